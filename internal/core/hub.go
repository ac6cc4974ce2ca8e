package core

import "sync"

// hub indexes this node's attached clients by user.
type hub struct {
	mu    sync.RWMutex
	users map[string][]*Client
	n     int
}

func newHub() *hub { return &hub{users: make(map[string][]*Client)} }

// add registers cl and returns how many clients the user has now, and the
// client it replaced (same device), if any. If the user already has
// maxPerUser clients (0: no limit) and cl replaces none of them, nothing is
// registered and ok is false.
func (h *hub) add(cl *Client, maxPerUser int) (n int, replaced *Client, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.users[cl.id.User]
	at := -1
	for i, o := range list {
		if o.id.Device == cl.id.Device {
			at = i
			break
		}
	}
	if at < 0 && maxPerUser > 0 && len(list) >= maxPerUser {
		return len(list), nil, false
	}
	if at >= 0 {
		replaced = list[at]
		list = append(list[:at:at], list[at+1:]...)
		h.n--
	}
	list = append(list, cl)
	h.users[cl.id.User] = list
	h.n++
	return len(list), replaced, true
}

// remove unregisters cl and returns how many clients the user has left.
func (h *hub) remove(cl *Client) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.users[cl.id.User]
	for i, o := range list {
		if o == cl {
			list = append(list[:i:i], list[i+1:]...)
			h.n--
			break
		}
	}
	if len(list) == 0 {
		delete(h.users, cl.id.User)
	} else {
		h.users[cl.id.User] = list
	}
	return len(list)
}

// clients returns the user's clients; the slice must not be modified.
func (h *hub) clients(user string) []*Client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.users[user]
}

func (h *hub) online(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.n
}

// all returns every attached client.
func (h *hub) all() []*Client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Client, 0, h.n)
	for _, l := range h.users {
		out = append(out, l...)
	}
	return out
}

// onlineUsers returns the users with at least one attached client.
func (h *hub) onlineUsers() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.users))
	for u, l := range h.users {
		if len(l) > 0 {
			out = append(out, u)
		}
	}
	return out
}
