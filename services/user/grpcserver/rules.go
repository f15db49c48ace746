package grpcserver

import (
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
)

// Rules is who may call each method the user service serves; cmd/user sets
// it as the service's Spec.Auth. Registration and the token endpoints are
// public (they are how a caller gets a token). A user's own record is for
// that user and admins, checked in the handlers (see authorize); the order
// service reads the buyer's email for its letters. Listing everyone and
// the operator's view of parked users are for admins.
var Rules = map[string]auth.Rule{
	userv1.UserService_CreateUser_FullMethodName: auth.Public,
	userv1.UserService_GetUser_FullMethodName:    auth.AnyOf(auth.Customer, auth.Services("order")),
	userv1.UserService_ListUsers_FullMethodName:  auth.Admin,
	userv1.UserService_UpdateUser_FullMethodName: auth.Customer,
	userv1.UserService_DeleteUser_FullMethodName: auth.Customer,

	userv1.AuthService_Login_FullMethodName:   auth.Public,
	userv1.AuthService_Refresh_FullMethodName: auth.Public,
	userv1.AuthService_Logout_FullMethodName:  auth.Public,
	userv1.AuthService_Token_FullMethodName:   auth.Public,

	userv1.UserAdminService_ListParked_FullMethodName:  auth.Admin,
	userv1.UserAdminService_RetryParked_FullMethodName: auth.Admin,
}
