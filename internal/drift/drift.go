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

// Fit is a least-squares line y = Intercept + Slope·x (+ Covariate·z, with
// a covariate) through n points, with x in seconds.
type Fit struct {
	N int
	// DF are the residuals' degrees of freedom: n less the parameters
	// fitted (two, three with a covariate).
	DF        int
	Slope     float64 // per second
	Intercept float64
	// Covariate is the coefficient of z, for a fit with a covariate.
	Covariate float64
	// SlopeSE is the slope's standard error: the residuals' standard
	// deviation (DF degrees of freedom) over the spread of x that z does
	// not explain. NaN when DF is 0, which leaves no residual to estimate
	// it.
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
	f := Fit{N: n, DF: n - 2, Slope: sxy / sxx, SlopeSE: math.NaN()}
	f.Intercept = my - f.Slope*mx
	if f.DF > 0 {
		var rss float64
		for i := range xs {
			r := ys[i] - (f.Intercept + f.Slope*xs[i])
			rss += r * r
		}
		f.SlopeSE = math.Sqrt(rss / float64(f.DF) / sxx)
	}
	return f, nil
}

// LeastSquaresGiven fits y = a + Slope·x + Covariate·z: the slope of y in
// x with z held fixed, which takes out of the slope, and out of its
// error, what z explains (the soak's z is the pooled connections, whose
// buffers the heap holds however long the gateway has run). It is the
// Frisch–Waugh–Lovell regression: x and y less their fits on z, then a
// line through the origin. Where z is constant it explains nothing and the
// fit is LeastSquares'; it returns an error where x is a line in z, which
// leaves no slope to tell apart.
func LeastSquaresGiven(xs, zs, ys []float64) (Fit, error) {
	n := len(xs)
	if n != len(ys) || n != len(zs) {
		return Fit{}, fmt.Errorf("least squares: %d x values, %d z values, %d y values", n, len(zs), len(ys))
	}
	if n < 3 {
		return Fit{}, fmt.Errorf("least squares with a covariate: %d points, want at least 3", n)
	}
	mx, my, mz := mean(xs), mean(ys), mean(zs)
	var szz, sxz, syz float64
	for i := range zs {
		dz := zs[i] - mz
		szz += dz * dz
		sxz += (xs[i] - mx) * dz
		syz += (ys[i] - my) * dz
	}
	if szz == 0 {
		return LeastSquares(xs, ys)
	}
	bx, by := sxz/szz, syz/szz
	rx, ry := make([]float64, n), make([]float64, n)
	var sxx, sxy, spread float64
	for i := range xs {
		spread += (xs[i] - mx) * (xs[i] - mx)
		dz := zs[i] - mz
		rx[i] = xs[i] - mx - bx*dz
		ry[i] = ys[i] - my - by*dz
		sxx += rx[i] * rx[i]
		sxy += rx[i] * ry[i]
	}
	if sxx <= 1e-9*spread {
		return Fit{}, fmt.Errorf("least squares: x is a line in the covariate, no slope of its own")
	}
	f := Fit{N: n, DF: n - 3, Slope: sxy / sxx, SlopeSE: math.NaN()}
	f.Covariate = by - f.Slope*bx
	f.Intercept = my - f.Slope*mx - f.Covariate*mz
	if f.DF > 0 {
		var rss float64
		for i := range rx {
			r := ry[i] - f.Slope*rx[i]
			rss += r * r
		}
		f.SlopeSE = math.Sqrt(rss / float64(f.DF) / sxx)
	}
	return f, nil
}

// PerDay is the slope and its standard error extrapolated over Day.
func (f Fit) PerDay() (slope, se float64) {
	return f.Slope * Day.Seconds(), f.SlopeSE * Day.Seconds()
}

// Interval95 is the slope per Day's two-sided 95 % confidence interval,
// Student's t with DF degrees of freedom; ok is false when DF is 0.
func (f Fit) Interval95() (lo, hi float64, ok bool) {
	if f.DF < 1 || math.IsNaN(f.SlopeSE) {
		return 0, 0, false
	}
	s, se := f.PerDay()
	half := T975(f.DF) * se
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
