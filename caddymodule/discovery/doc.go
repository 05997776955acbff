// Package discovery keeps route tables current from the sources that read
// Docker engines, behind a small API for the Caddy modules: a snapshot of
// the table and what building it found (Watcher.Snapshot), readiness
// (Watcher.Ready), a re-list asked for by a failing request
// (Watcher.Kick), and the counts of discovery's work (Watcher.Stats).
//
// A Source (the swarm's is swarmsource, the standalone containers'
// containersource) lists one engine, follows its events and hands every
// listing's table to its watcher through a Feed; a watcher of several
// sources, of one engine or of several (NewEngines: each engine with its
// own counters and API state), merges their last tables into one,
// settling their claims as one source settles its own (the oldest wins).
// The watcher attaches the
// per-route meters, swaps the snapshot in atomically and logs what
// changed. Requests only ever read the snapshot.
//
// Files: source.go (what a source is), watcher.go (the watcher and its
// feeds), merge.go (several sources' tables into one), claims.go (settling
// claims on a host and prefix), snapshot.go (what is published: the table
// and its report), stats.go (discovery's counters and the Docker API's
// state), kicks.go (re-lists that failing requests ask for), changes.go
// (logging what a new table changes).
package discovery
