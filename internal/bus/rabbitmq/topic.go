package rabbitmq

import (
	"errors"
	"fmt"
	"strings"
)

// MaxKeyLen is the longest AMQP routing key (a short string).
const MaxKeyLen = 255

// ErrBadTopic is returned by Publish, Subscribe and Unsubscribe for a topic
// whose routing key would be longer than MaxKeyLen.
var ErrBadTopic = errors.New("rabbitmq bus: topic too long for a routing key")

// routingKey returns the AMQP routing key of a bus topic: the topic with
// '%', '.', '*' and '#' percent-encoded (%25, %2E, %2A, %23), except its
// first '.', which stays as the separator of the kind from the id ("c.g_x",
// "u.alice"). A topic exchange splits keys into words at '.', and a binding
// key's words "*" and "#" are wildcards; an escaped key has at most two
// words, neither of which can be "*" or "#", so every binding matches
// exactly one topic, whatever characters a user or conversation id holds
// (user ids may contain '.', '*' and '%'; see core.ValidateUserID).
func routingKey(topic string) (string, error) {
	var b strings.Builder
	b.Grow(len(topic) + 8)
	first := true
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '.':
			if first {
				first = false
				b.WriteByte('.')
			} else {
				b.WriteString("%2E")
			}
		case '%':
			b.WriteString("%25")
		case '*':
			b.WriteString("%2A")
		case '#':
			b.WriteString("%23")
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > MaxKeyLen {
		return "", fmt.Errorf("%w: %d bytes escaped, the limit is %d", ErrBadTopic, b.Len(), MaxKeyLen)
	}
	return b.String(), nil
}

// topicOf reverses routingKey. It refuses a key that routingKey cannot have
// made (a message some other publisher put on the exchange).
func topicOf(key string) (string, error) {
	var b strings.Builder
	b.Grow(len(key))
	dots := 0
	for i := 0; i < len(key); i++ {
		switch c := key[i]; c {
		case '.':
			if dots++; dots > 1 {
				return "", fmt.Errorf("rabbitmq bus: routing key %q has more than one unescaped '.'", key)
			}
			b.WriteByte('.')
		case '*', '#':
			return "", fmt.Errorf("rabbitmq bus: routing key %q has an unescaped %q", key, c)
		case '%':
			if i+2 >= len(key) {
				return "", fmt.Errorf("rabbitmq bus: routing key %q has a truncated escape", key)
			}
			switch key[i+1 : i+3] {
			case "25":
				b.WriteByte('%')
			case "2E":
				if dots == 0 {
					// routingKey keeps the first '.' unescaped.
					return "", fmt.Errorf("rabbitmq bus: routing key %q escapes its first '.'", key)
				}
				b.WriteByte('.')
			case "2A":
				b.WriteByte('*')
			case "23":
				b.WriteByte('#')
			default:
				return "", fmt.Errorf("rabbitmq bus: routing key %q has an unknown escape %q", key, key[i:i+3])
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
