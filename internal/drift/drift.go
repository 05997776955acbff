// Package drift decides from a series of samples whether a quantity grows:
// a least-squares line through them, its slope's standard error, and the
// verdicts the soak (`make soak`, e2e/soak_test.go) prints. It is pure
// arithmetic, tested without Docker.
package drift

import (
	"fmt"
	"math"
	"time"
)

// Day is the span a slope is extrapolated over.
const Day = 24 * time.Hour

// Fit is a least-squares line y = Intercept + Slope·x through n points, with
// x in seconds.
type Fit struct {
	N         int
	Slope     float64 // per second
	Intercept float64
	// SlopeSE is the slope's standard error: the residuals' standard
	// deviation (n-2 degrees of freedom) over the spread of x. NaN for
	// fewer than three points, which leave no residual to estimate it.
	SlopeSE float64
}

// LeastSquares fits a line through (xs[i], ys[i]). It returns an error when
// the lengths differ, there are fewer than two points, or every x is the
// same.
func LeastSquares(xs, ys []float64) (Fit, error) {
	n := len(xs)
	if n != len(ys) {
		return Fit{}, fmt.Errorf("least squares: %d x values, %d y values", n, len(ys))
	}
	if n < 2 {
		return Fit{}, fmt.Errorf("least squares: %d points, want at least 2", n)
	}
	mx, my := mean(xs), mean(ys)
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return Fit{}, fmt.Errorf("least squares: all %d points have x = %v", n, mx)
	}
	f := Fit{N: n, Slope: sxy / sxx, SlopeSE: math.NaN()}
	f.Intercept = my - f.Slope*mx
	if n > 2 {
		var rss float64
		for i := range xs {
			r := ys[i] - (f.Intercept + f.Slope*xs[i])
			rss += r * r
		}
		f.SlopeSE = math.Sqrt(rss / float64(n-2) / sxx)
	}
	return f, nil
}

// PerDay is the slope and its standard error extrapolated over Day.
func (f Fit) PerDay() (slope, se float64) {
	return f.Slope * Day.Seconds(), f.SlopeSE * Day.Seconds()
}

// Interval95 is the slope per Day's two-sided 95 % confidence interval,
// Student's t with n-2 degrees of freedom; ok is false when there are
// fewer than three points.
func (f Fit) Interval95() (lo, hi float64, ok bool) {
	if f.N < 3 || math.IsNaN(f.SlopeSE) {
		return 0, 0, false
	}
	s, se := f.PerDay()
	half := T975(f.N-2) * se
	return s - half, s + half, true
}

// t975 are Student's t 0.975 quantiles for 1 to 30 degrees of freedom.
var t975 = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// T975 is Student's t 0.975 quantile for df degrees of freedom (df ≥ 1).
// Above 30 it is the tabled value at the next lower of 30, 40, 60 and 120
// (a wider interval than the exact one, never a narrower).
func T975(df int) float64 {
	switch {
	case df < 1:
		return math.Inf(1)
	case df <= len(t975):
		return t975[df-1]
	case df <= 40:
		return 2.042
	case df <= 60:
		return 2.021
	case df <= 120:
		return 2.000
	default:
		return 1.980
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
