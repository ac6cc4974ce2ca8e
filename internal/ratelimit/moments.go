package ratelimit

// Names of the limits of follows and moments (see the Limit* constants in
// errors.go).
const (
	// LimitMoments: moments posted per user per hour.
	LimitMoments = "moments"
	// LimitMomentComments: comments on moments per user per hour.
	LimitMomentComments = "moment_comments"
)

// The limits of moments are in Names like the others; they are added
// here, next to their names, once, before any caller can read Names.
func init() { Names = append(Names, LimitMoments, LimitMomentComments) }
