package ws

import (
	"context"

	"github.com/parley-im/parley/protocol"
)

// The blocking ops (docs/protocol.md §4.2: block, unblock, blocks).
func init() {
	registerOps(map[string]opHandler{
		protocol.OpBlock:   opBlock,
		protocol.OpUnblock: opUnblock,
		protocol.OpBlocks:  opBlocks,
	})
}

// blockArgs are the arguments of block and unblock.
type blockArgs struct {
	User string `json:"user"`
}

func opBlock(s *session, ctx context.Context, req *protocol.Request) error {
	var a blockArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if err := s.srv.core.Block(ctx, s.id.User, a.User); err != nil {
		return err
	}
	if req.ID != "" {
		s.cl.Reply(req.ID, protocol.TypeOK, nil)
	}
	return nil
}

func opUnblock(s *session, ctx context.Context, req *protocol.Request) error {
	var a blockArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if err := s.srv.core.Unblock(ctx, s.id.User, a.User); err != nil {
		return err
	}
	if req.ID != "" {
		s.cl.Reply(req.ID, protocol.TypeOK, nil)
	}
	return nil
}

func opBlocks(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		After string `json:"after"`
		Limit int    `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.BlockList(ctx, s.id.User, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeBlocks, &l)
	return nil
}
