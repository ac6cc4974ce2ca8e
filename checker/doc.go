// Package checker turns the log of a fault test (crash, partition, broker
// outage, load) into counts (lost, duplicated, unexpected, reordered, gaps,
// redelivered, recovered), so that the test can assert the delivery
// contract: nothing acknowledged is lost, no message is shown twice, nothing
// is invented, and every device sees every conversation gap-free and in seq
// order.
//
// # Recording
//
// A test creates a Checker with New and records, from any goroutine:
//
//   - Send: every send attempt of a logical message, identified by
//     (sender, client message id), with what the sender learned (Acked,
//     Failed, Unknown). On Acked the conversation, seq and server message id
//     are recorded; seq 0 and an empty message id mean "not told" (an MQTT
//     3.1.1 PUBACK, say).
//   - Deliver: every message a device is given (live or by resume), with the
//     envelope's conversation, seq, message id, sender and client message id.
//     Not history pages: those are reads, not deliveries.
//   - Ack: every cumulative acknowledgement a device sends. Record it before
//     writing it to the server, so it can never appear to follow a crash it
//     preceded.
//   - Crash: a server (or node) crash, after the process is dead and before
//     it is restarted.
//   - Expect and ExpectFrom: which devices must receive which conversations,
//     and from which seq.
//   - Stored: a message that is stored without a test sender (a membership
//     or system event), so its deliveries are not "unexpected".
//
// After the run every device does a final catch-up read (resume) whose
// deliveries are recorded too; then Report computes the counts. OK tells
// whether the run kept the contract.
//
// # Rules
//
// A logical message's outcome is the best of its attempts: Acked beats
// Unknown, Unknown beats Failed (a Failed retry does not undo an earlier
// attempt that may have been stored).
//
// Deliveries are deduplicated per device by message id, as the SDKs do:
// the first delivery of a message id to a device is what the app shows; a
// later one is a repeat. A repeat of a message the device had not yet
// acknowledged is ordinary at-least-once retransmission (a dropped
// connection) and is only counted in Deliveries. A repeat of a message the
// device had acknowledged is Redelivered when a crash may have lost every
// acknowledgement of the device that covered it, and Duplicated otherwise.
// A crash may have lost an acknowledgement when a Crash was recorded after
// it and before the repeat and, if WithAckWindow is set, within the window
// after it (older acknowledgements must have been flushed). An Ack that
// repeats the device's position after a crash is a new acknowledgement: the
// restarted server knows it.
//
// One logical message stored as more than one server message (two message
// ids, or two positions, among its acknowledgements and the deliveries that
// carry its client message id) counts as Duplicated once per extra copy.
//
// Lost counts (device, message) pairs: a device that expects a conversation
// from seq f must have received every Acked message of it (and every Stored
// one) whose seq is at least f or is unknown. A message delivered under any
// of its server ids counts as received. A message whose outcome is Unknown
// or Failed is never lost; if any device got it, it is Recovered.
//
// Unexpected counts (device, message) pairs whose message id is neither
// Stored nor tied to a sent logical message (by an acknowledgement naming
// the id, or by the delivery's sender and client message id).
//
// Reordered counts first-time deliveries whose seq is lower than one the
// device got earlier in the same conversation. Repeats are never reordered.
//
// Gaps counts, per device and conversation, the seqs from a start to the
// highest seq known in the conversation (any delivery, any acknowledgement,
// any Stored message) that the device never got. The start is the
// ExpectFrom seq (1 for Expect) for an expected pair, and otherwise the
// lowest seq the device got. Seq numbers no message ever had are gaps too:
// per conversation, seq is gap-free.
//
// Conflicts counts message ids seen at two positions or tied to two logical
// messages, and message ids that share a (conversation, seq) with another.
//
// The counts overlap on purpose: an acknowledged message a device missed is
// both Lost and a gap, for example. OK requires Lost, Duplicated,
// Unexpected, Reordered, Gaps and Conflicts to be zero; Redelivered and
// Recovered are reported, not failures.
//
// # Concurrency
//
// All methods of Checker are safe for concurrent use; one mutex guards the
// state. Each recording call does a constant number of map operations on
// interned ids (about 0.5 µs), and Report sorts once, so a run of millions
// of events costs seconds. Calls for one device must be made in
// the order the device saw the events (typically from its read loop),
// because reordering and repeats are judged in call order. Report may be
// called at any time and sees every call that returned before it.
package checker
