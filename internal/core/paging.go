package core

// Keyset paging of the social graph's lists (friends, requests, blocks,
// follows, invitations, join requests, broadcast lists, comments, likes):
// a page names the key of its last entry, and the next page starts after
// it. The store is asked for limit+1 rows; the one beyond the page only
// says that there is a next page.

// pageLimit checks a page's requested size: 0 is def, otherwise it must
// be 1..max.
func pageLimit(limit, def, max int) (int, error) {
	switch {
	case limit < 0 || limit > max:
		return 0, badField("limit", "must be between 1 and %d", max)
	case limit == 0:
		return def, nil
	}
	return limit, nil
}

// afterUser checks a cursor that is a user id ("" is the first page).
func afterUser(after string) error {
	if after != "" && ValidateUserID(after) != nil {
		return badField("after", "is not a user id")
	}
	return nil
}

// keysetPage converts the first limit of rows (read with limit+1) and
// returns them with the key of the last one as the cursor of the next
// page, or the zero key when rows held no more than limit.
func keysetPage[R, P any, K comparable](rows []R, limit int, conv func(R) P, key func(R) K) (page []P, next K) {
	n := min(len(rows), limit)
	page = make([]P, n)
	for i, r := range rows[:n] {
		page[i] = conv(r)
	}
	if len(rows) > limit && limit > 0 {
		next = key(rows[limit-1])
	}
	return page, next
}
