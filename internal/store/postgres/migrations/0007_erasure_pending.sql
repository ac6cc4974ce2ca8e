-- Parley schema version 7, PostgreSQL: account erasure in bounded steps
-- (the twin of internal/store/sqlite/migrations/0007_erasure_pending.sql,
-- which tells the history).
--
-- (user_id, conv_id): the user's messages of conv_id with seqs in
-- (done_seq, end_seq] are still to clear, and the user still leaves
-- conv_id once they are; end_seq is the conversation's last seq when the
-- erasure began (a user being erased sends nothing after it).
CREATE TABLE erasure_pending (
	user_id  TEXT   COLLATE "C" NOT NULL,
	conv_id  TEXT   COLLATE "C" NOT NULL,
	done_seq BIGINT NOT NULL DEFAULT 0,
	end_seq  BIGINT NOT NULL,
	PRIMARY KEY (user_id, conv_id)
);
