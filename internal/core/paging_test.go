package core

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestKeysetPage(t *testing.T) {
	t.Parallel()
	rows := []int{1, 2, 3}
	conv := strconv.Itoa
	key := func(r int) int { return r * 10 }
	for _, tc := range []struct {
		rows  []int
		limit int
		page  string
		next  int
	}{
		{nil, 2, `[]`, 0},
		{rows[:2], 2, `["1","2"]`, 0}, // exactly a page: no next
		{rows, 2, `["1","2"]`, 20},    // one more row: next is the last kept
		{rows, 5, `["1","2","3"]`, 0}, // fewer than asked
		{rows[:1], 1, `["1"]`, 0},     // one of one
		{rows[:2], 1, `["1"]`, 10},    // one of two
	} {
		page, next := keysetPage(tc.rows, tc.limit, conv, key)
		b, _ := json.Marshal(page)
		if string(b) != tc.page || next != tc.next {
			t.Errorf("keysetPage(%v, %d) = %s, %d; want %s, %d", tc.rows, tc.limit, b, next, tc.page, tc.next)
		}
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int }{{0, 7}, {1, 1}, {9, 9}, {10, -1}, {-1, -1}} {
		got, err := pageLimit(tc.in, 7, 9)
		if (err != nil) != (tc.want < 0) || (err == nil && got != tc.want) {
			t.Errorf("pageLimit(%d, 7, 9) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
