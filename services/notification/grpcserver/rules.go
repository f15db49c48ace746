package grpcserver

import (
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	"github.com/kassa-dev/kassa/services/platform/auth"
)

// Rules is who may call each NotificationService method; cmd/notification
// sets it as the service's Spec.Auth. Only the order service writes letters
// (a customer could otherwise fill anyone's mailbox with convincing mail);
// reading is for customers, and the handlers narrow it to the letters'
// owner (or an admin) with auth.Owner.
var Rules = map[string]auth.Rule{
	notificationv1.NotificationService_SendNotification_FullMethodName:  auth.Services("order"),
	notificationv1.NotificationService_GetNotification_FullMethodName:   auth.Customer,
	notificationv1.NotificationService_ListNotifications_FullMethodName: auth.Customer,
}
