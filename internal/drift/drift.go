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

// Fit is a least-squares line y = Intercept + Slope·x (+ Σ Covariates[j]·zⱼ,
// with covariates) through n points, with x in seconds.
type Fit struct {
	N int
	// DF are the residuals' degrees of freedom: n less the parameters
	// fitted (two, and one for each covariate that varies).
	DF        int
	Slope     float64 // per second
	Intercept float64
	// Covariates are the coefficients of the covariates' (0 for one that
	// is constant), for a fit with covariates.
	Covariates []float64
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

// LeastSquaresGiven fits y = a + Slope·x + Σ Covariates[j]·zs[j]: the
// slope of y in x with each z held fixed, which takes out of the slope,
// and out of its error, what the zs explain (the soak's: the pooled
// connections, whose buffers the heap holds, and the upstreams Caddy
// caches). It solves the normal equations of the centred columns. A z that
// is constant explains nothing and is left out (its coefficient 0); it
// returns an error where x is (nearly) a combination of the zs, which
// leaves no slope of its own to tell apart.
func LeastSquaresGiven(xs, ys []float64, zs ...[]float64) (Fit, error) {
	n := len(xs)
	cols := [][]float64{xs}
	kept := []int{-1}
	for j, z := range zs {
		if len(z) != n {
			return Fit{}, fmt.Errorf("least squares: %d x values, %d values of covariate %d", n, len(z), j+1)
		}
		if spread(z) > 0 {
			cols, kept = append(cols, z), append(kept, j)
		}
	}
	if len(cols) == 1 {
		f, err := LeastSquares(xs, ys)
		f.Covariates = make([]float64, len(zs))
		return f, err
	}
	if n != len(ys) {
		return Fit{}, fmt.Errorf("least squares: %d x values, %d y values", n, len(ys))
	}
	p := len(cols)
	if n <= p+1 {
		return Fit{}, fmt.Errorf("least squares with %d covariates: %d points, want at least %d", p-1, n, p+2)
	}
	means := make([]float64, p)
	for j, c := range cols {
		means[j] = mean(c)
	}
	my := mean(ys)
	// The normal equations of the centred columns, A·b = r, and A's
	// inverse beside them (Gauss–Jordan), whose [0][0] is the slope's.
	a := make([][]float64, p)
	for i := range a {
		a[i] = make([]float64, 2*p+1)
		for j := range p {
			for k := range n {
				a[i][j] += (cols[i][k] - means[i]) * (cols[j][k] - means[j])
			}
		}
		a[i][p+i] = 1
		for k := range n {
			a[i][2*p] += (cols[i][k] - means[i]) * (ys[k] - my)
		}
	}
	sxx := a[0][0]
	for i := range p {
		piv := i
		for r := i + 1; r < p; r++ {
			if math.Abs(a[r][i]) > math.Abs(a[piv][i]) {
				piv = r
			}
		}
		a[i], a[piv] = a[piv], a[i]
		if math.Abs(a[i][i]) <= 1e-12*math.Abs(sxx)+1e-300 {
			return Fit{}, fmt.Errorf("least squares: x is a combination of the covariates, no slope of its own")
		}
		for r := range p {
			if r == i {
				continue
			}
			k := a[r][i] / a[i][i]
			for c := i; c <= 2*p; c++ {
				a[r][c] -= k * a[i][c]
			}
		}
	}
	b := make([]float64, p)
	for i := range p {
		b[i] = a[i][2*p] / a[i][i]
	}
	// What of x the covariates leave unexplained: 1/(A⁻¹)[0][0].
	inv00 := a[0][p] / a[0][0]
	if inv00 <= 0 || 1/inv00 <= 1e-9*sxx {
		return Fit{}, fmt.Errorf("least squares: x is nearly a combination of the covariates, no slope of its own")
	}
	f := Fit{N: n, DF: n - p - 1, Slope: b[0], SlopeSE: math.NaN(), Covariates: make([]float64, len(zs))}
	f.Intercept = my
	for j := range p {
		f.Intercept -= b[j] * means[j]
		if j > 0 {
			f.Covariates[kept[j]] = b[j]
		}
	}
	var rss float64
	for k := range n {
		r := ys[k] - f.Intercept
		for j := range p {
			r -= b[j] * cols[j][k]
		}
		rss += r * r
	}
	f.SlopeSE = math.Sqrt(rss / float64(f.DF) * inv00)
	return f, nil
}

// spread is the sum of squared deviations from the mean.
func spread(v []float64) float64 {
	m, s := mean(v), 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return s
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
