package containersource

// This file tells which kill signals mean that a container is leaving:
// the engine sends the container's stop signal (then SIGKILL, after the
// stop timeout) when it stops it, and announces each with a kill event
// naming the signal's number.

import (
	"fmt"
	"strconv"
	"strings"
)

// The signals that always mean leaving, by their (Linux) numbers.
const (
	sigKill = 9
	sigTerm = 15
)

// signalNumbers are the Linux numbers of the signals a stop signal may
// name (the engine's containers are Linux's, whatever the gateway runs on).
var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}

// parseSignal reads a stop signal as the engine accepts it: a number, or
// a name with or without "SIG"; "" is the engine's default, SIGTERM.
func parseSignal(s string) (int, error) {
	if s == "" {
		return sigTerm, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	if n, ok := signalNumbers[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown stop signal %q", s)
}

// killSignal reads the signal attribute of a kill event: 0 if it has
// none or it does not parse.
func killSignal(attr map[string]string) int {
	n, err := strconv.Atoi(attr["signal"])
	if err != nil {
		return 0
	}
	return n
}
