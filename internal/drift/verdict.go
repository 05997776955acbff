package drift

import (
	"fmt"
	"math"
	"strings"
)

// Verdict is the outcome of one check.
type Verdict string

// The verdicts. Inconclusive means the samples are too noisy (or too few)
// to tell growth from none: it is not a pass.
const (
	Pass         Verdict = "PASS"
	Fail         Verdict = "FAIL"
	Inconclusive Verdict = "INCONCLUSIVE"
)

// Result is a verdict and the sentence that explains it.
type Result struct {
	Verdict Verdict
	Why     string
}

// Growth judges a quantity that may grow by at most frac of its mean per
// Day (the heap: 0.05). With the slope per Day's 95 % interval [lo, hi]:
// Pass if hi is under the allowance, Fail if lo is above it, else
// Inconclusive.
func Growth(xs, ys []float64, frac float64) Result {
	f, err := LeastSquares(xs, ys)
	return growth(f, err, ys, frac)
}

// GrowthGiven is Growth with what covariates zs explain taken out
// (LeastSquaresGiven): the heap's slope with the pooled connections and
// Caddy's cached upstreams held fixed.
func GrowthGiven(xs, ys []float64, frac float64, zs ...[]float64) Result {
	f, err := LeastSquaresGiven(xs, ys, zs...)
	return growth(f, err, ys, frac)
}

func growth(f Fit, err error, ys []float64, frac float64) Result {
	if err != nil {
		return Result{Inconclusive, err.Error()}
	}
	limit := frac * mean(ys)
	s, se := f.PerDay()
	lo, hi, ok := f.Interval95()
	desc := fmt.Sprintf("slope %s ± %s (SE) per 24 h, 95%% interval [%s, %s], allowed %s (%.0f%% of the mean %s)",
		num(s), num(se), num(lo), num(hi), num(limit), frac*100, num(mean(ys)))
	if len(f.Covariates) > 0 {
		cs := make([]string, len(f.Covariates))
		for i, c := range f.Covariates {
			cs[i] = num(c)
		}
		desc += fmt.Sprintf(", covariates held fixed (%s for each of their units)", strings.Join(cs, ", "))
	}
	switch {
	case !ok:
		return Result{Inconclusive, fmt.Sprintf("%d points leave no error estimate: slope %s per 24 h", f.N, num(s))}
	case hi < limit:
		return Result{Pass, desc}
	case lo > limit:
		return Result{Fail, desc}
	default:
		return Result{Inconclusive, desc + ": too noisy to tell"}
	}
}

// Band judges a quantity that must not drift: Pass if every sample is
// within ±tol of the first, Fail naming the first that is not. The slope
// (with its standard error) is reported beside it.
func Band(xs, ys []float64, tol float64) Result {
	if len(ys) == 0 {
		return Result{Inconclusive, "no samples"}
	}
	slope := "slope -"
	if f, err := LeastSquares(xs, ys); err == nil {
		s, se := f.PerDay()
		slope = fmt.Sprintf("slope %s ± %s (SE) per 24 h", num(s), num(se))
	}
	for i, y := range ys {
		if math.Abs(y-ys[0]) > tol {
			return Result{Fail, fmt.Sprintf("sample %d is %s, %s from the first (%s), beyond ±%s; %s",
				i+1, num(y), num(y-ys[0]), num(ys[0]), num(tol), slope)}
		}
	}
	return Result{Pass, fmt.Sprintf("every sample within ±%s of the first (%s); %s", num(tol), num(ys[0]), slope)}
}

// Equal judges a count that must be back where it started.
func Equal(start, end float64) Result {
	if start == end {
		return Result{Pass, fmt.Sprintf("%s at the start and at the end", num(start))}
	}
	return Result{Fail, fmt.Sprintf("%s at the start, %s at the end", num(start), num(end))}
}

// num prints a number without trailing noise: integers as integers.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
