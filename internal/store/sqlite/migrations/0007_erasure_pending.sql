-- Parley schema version 7: account erasure in bounded steps.
--
-- DeleteUser used to erase an account in one write transaction that
-- rewrote every conversation the user was ever in, holding up every other
-- commit meanwhile. Now its first transaction leaves the tombstone and
-- records here the conversations still to clear; each following step
-- clears a bounded range of them and removes the rows it finished; the
-- last row gone ends the erasure. A crash in between leaves the rows, and
-- the work resumes (store.Erasure.PendingErasures).
--
-- (user_id, conv_id): the user's messages of conv_id with seqs in
-- (done_seq, end_seq] are still to clear, and the user still leaves
-- conv_id once they are; end_seq is the conversation's last seq when the
-- erasure began (a user being erased sends nothing after it).
CREATE TABLE erasure_pending (
	user_id  TEXT    NOT NULL,
	conv_id  TEXT    NOT NULL,
	done_seq INTEGER NOT NULL DEFAULT 0,
	end_seq  INTEGER NOT NULL,
	PRIMARY KEY (user_id, conv_id)
) WITHOUT ROWID;
