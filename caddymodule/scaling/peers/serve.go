package peers

import (
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"
)

const (
	// reportPath is where a gateway serves its report.
	reportPath = "/report"
	// serverTimeout bounds a handshake, a request and a response.
	serverTimeout = 10 * time.Second
)

// server returns the HTTP server of this gateway's report. Its TLS is set
// on the listener: only a client with a certificate of the CA gets here.
func (g *Group) server() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+reportPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(g.report()); err != nil {
			g.cfg.Logger.Debug("writing the peer report", zap.Error(err))
		}
	})
	// NewStdLogAt fails only for an invalid level.
	errorLog, _ := zap.NewStdLogAt(g.cfg.Logger.Named("server"), zap.DebugLevel)
	return &http.Server{
		Handler: mux,
		// Generous: the poller gives up after one interval anyway.
		ReadHeaderTimeout: serverTimeout,
		WriteTimeout:      serverTimeout,
		IdleTimeout:       g.cfg.liveFor() + g.cfg.Interval,
		MaxHeaderBytes:    8 << 10,
		// Handshakes refused (no or a foreign certificate) are logged here,
		// at debug level: a misconfigured peer retries every poll.
		ErrorLog: errorLog,
	}
}
