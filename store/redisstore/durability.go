package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrNotDurable is returned by Open with Options.RequireFsync when a Redis server does not fsync every write
// (appendonly yes, appendfsync always), or does not let the check read its configuration.
var ErrNotDurable = errors.New("redisstore: Redis does not fsync every write before answering")

// Durability is what a Redis server does with a write before answering it, as CONFIG GET tells.
type Durability struct {
	Addr        string // the server (on a Cluster, each master)
	AppendOnly  string // "yes" or "no"
	AppendFsync string // "always", "everysec" or "no"
}

// Loses says what a crash of the server's host can lose of what it acknowledged, or "" for nothing.
func (d Durability) Loses() string {
	switch {
	case d.AppendOnly != "yes":
		return "every write since the last RDB snapshot (appendonly no)"
	case d.AppendFsync == "always":
		return ""
	case d.AppendFsync == "everysec":
		return "about the last second of writes (appendfsync everysec)"
	default:
		return "the writes the kernel has not flushed yet, often tens of seconds (appendfsync " + d.AppendFsync + ")"
	}
}

// Durability reads the persistence settings of the server, or of every master of a Cluster.
func (s *Store) Durability(ctx context.Context) ([]Durability, error) {
	read := func(ctx context.Context, c *redis.Client) (Durability, error) {
		m, err := c.ConfigGet(ctx, "append*").Result()
		if err != nil {
			return Durability{}, fmt.Errorf("CONFIG GET on %s: %w", c.Options().Addr, err)
		}
		return Durability{Addr: c.Options().Addr, AppendOnly: m["appendonly"], AppendFsync: m["appendfsync"]}, nil
	}
	switch c := s.rdb.(type) {
	case *redis.Client:
		d, err := read(ctx, c)
		if err != nil {
			return nil, err
		}
		return []Durability{d}, nil
	case *redis.ClusterClient:
		var (
			out []Durability
			mu  sync.Mutex
		)
		err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			d, err := read(ctx, n)
			if err == nil {
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
			return err
		})
		return out, err
	}
	return nil, fmt.Errorf("redisstore: unknown client %T", s.rdb)
}

// checkDurability runs at Open: with RequireFsync it refuses a server that does not fsync every write (or hides its
// configuration); without, it logs what a host crash of the server would lose.
func (s *Store) checkDurability(ctx context.Context) error {
	ds, err := s.Durability(ctx)
	if err != nil {
		if s.opt.RequireFsync {
			return fmt.Errorf("%w: cannot read its configuration: %w", ErrNotDurable, err)
		}
		s.opt.Logger.LogAttrs(ctx, slog.LevelInfo, "redis: persistence settings unreadable; see docs/operations.md, Durability",
			slog.String("error", err.Error()))
		return nil
	}
	var weak []string
	for _, d := range ds {
		loses := d.Loses()
		if loses == "" {
			continue
		}
		weak = append(weak, d.Addr+": "+loses)
		if !s.opt.RequireFsync {
			lvl := slog.LevelInfo
			if d.AppendOnly != "yes" {
				lvl = slog.LevelWarn
			}
			s.opt.Logger.LogAttrs(ctx, lvl, "redis: a crash of the server's host can lose accepted events",
				slog.String("server", d.Addr), slog.String("loses", loses),
				slog.String("see", "docs/operations.md, Durability; --redis-require-fsync"))
		}
	}
	if s.opt.RequireFsync && len(weak) > 0 {
		return fmt.Errorf("%w: %s", ErrNotDurable, strings.Join(weak, "; "))
	}
	return nil
}
