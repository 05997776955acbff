package caddymodule

// This file shares one watcher between every module instance with the same
// discovery options, across config reloads.

import (
	"github.com/caddyserver/caddy/v2"
)

// watchers holds one watcher per distinct Discovery, shared by every module
// instance that uses it and kept across config reloads (Caddy provisions
// the new config before it cleans up the old one, so the count never drops
// to zero on a reload).
var watchers = caddy.NewUsagePool()

// attach fills in defaults, validates, and attaches to the shared watcher
// for these options, starting it if needed. Validation comes first, since
// attaching starts discovery. It does not wait for Docker.
func (d *Discovery) attach() error {
	if err := d.provision(); err != nil {
		return err
	}
	val, _, err := watchers.LoadOrNew(d.key(), func() (caddy.Destructor, error) {
		api, err := newDockerClient(*d)
		if err != nil {
			return nil, err
		}
		// The watcher outlives this config: it is kept across reloads and
		// stopped by Destruct when its last user is cleaned up.
		return startWatcher(api, *d), nil
	})
	if err != nil {
		return err
	}
	d.watcher = val.(*watcher)
	return nil
}

// detach releases the shared watcher; the last user stops it. It is safe
// after a failed or absent attach, and more than once. The watcher stays
// readable: a released watcher keeps its last table, so requests still in
// flight finish with it.
func (d *Discovery) detach() error {
	if d.watcher == nil || d.released {
		return nil
	}
	d.released = true
	_, err := watchers.Delete(d.key())
	return err
}
