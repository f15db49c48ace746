module github.com/kassa-dev/kassa/services/user

go 1.26

replace (
	github.com/kassa-dev/kassa/gen => ../../gen
	github.com/kassa-dev/kassa/services/platform => ../platform
)
