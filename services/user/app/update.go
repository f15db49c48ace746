package app

import (
	"context"
	"strings"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/validate"
	"github.com/kassa-dev/kassa/services/user"
)

// updatable lists the update_mask paths, in the order they are checked.
var updatable = []string{"username", "email", "first_name", "last_name", "phone"}

// Update changes the fields of in.ID that paths names. With no paths, every
// writable field that is non-empty in in is changed (so an empty mask can
// not clear a field; name it in the mask to clear it).
func (s *Service) Update(ctx context.Context, in user.User, paths []string) (user.User, error) {
	id, err := validate.ID("user.id", in.ID)
	if err != nil {
		return user.User{}, err
	}
	patch, err := buildPatch(in, paths)
	if err != nil {
		return user.User{}, err
	}
	return s.store.Update(ctx, id, patch)
}

func buildPatch(in user.User, paths []string) (user.Patch, error) {
	values := map[string]*string{
		"username": &in.Username, "email": &in.Email, "first_name": &in.FirstName,
		"last_name": &in.LastName, "phone": &in.Phone,
	}
	chosen := make(map[string]bool)
	if len(paths) == 0 {
		for _, name := range updatable {
			if *values[name] != "" {
				chosen[name] = true
			}
		}
		if len(chosen) == 0 {
			return user.Patch{}, apperr.Invalid("update_mask", "is empty and the user sets no field, so there is nothing to update")
		}
	}
	for _, p := range paths {
		if _, ok := values[p]; !ok {
			return user.Patch{}, apperr.Invalid("update_mask", "has unknown path %q; updatable fields are %s", p, strings.Join(updatable, ", "))
		}
		chosen[p] = true
	}
	var patch user.Patch
	var err error
	for _, name := range updatable {
		if !chosen[name] {
			continue
		}
		v := values[name]
		field := "user." + name
		switch name {
		case "username":
			err = user.CheckUsername(field, *v)
			patch.Username = v
		case "email":
			err = validate.Email(field, *v)
			patch.Email = v
		case "first_name":
			err = user.CheckName(field, *v)
			patch.FirstName = v
		case "last_name":
			err = user.CheckName(field, *v)
			patch.LastName = v
		case "phone":
			err = user.CheckPhone(field, *v)
			patch.Phone = v
		}
		if err != nil {
			return user.Patch{}, err
		}
	}
	return patch, nil
}
