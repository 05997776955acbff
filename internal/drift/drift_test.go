package drift

import (
	"math"
	"strings"
	"testing"
)

func TestLeastSquares(t *testing.T) {
	for _, tc := range []struct {
		name              string
		xs, ys            []float64
		slope, icept, se  float64
		wantErr, noErrEst bool
	}{
		{name: "exact line", xs: []float64{0, 1, 2, 3}, ys: []float64{1, 3, 5, 7}, slope: 2, icept: 1, se: 0},
		// By hand: sxx 10, sxy 8, residuals -.4 .8 -1 1.2 -.6 (sum of squares 3.6).
		{name: "noisy", xs: []float64{0, 1, 2, 3, 4}, ys: []float64{1, 3, 2, 5, 4}, slope: 0.8, icept: 1.4, se: math.Sqrt(3.6 / 3 / 10)},
		{name: "two points: no error estimate", xs: []float64{0, 10}, ys: []float64{5, 6}, slope: 0.1, icept: 5, noErrEst: true},
		{name: "one point", xs: []float64{1}, ys: []float64{1}, wantErr: true},
		{name: "same x", xs: []float64{2, 2, 2}, ys: []float64{1, 2, 3}, wantErr: true},
		{name: "lengths differ", xs: []float64{1, 2, 3}, ys: []float64{1, 2}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := LeastSquares(tc.xs, tc.ys)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("LeastSquares = %+v, want an error", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !near(f.Slope, tc.slope) || !near(f.Intercept, tc.icept) {
				t.Errorf("line %v + %v·x, want %v + %v·x", f.Intercept, f.Slope, tc.icept, tc.slope)
			}
			if tc.noErrEst != math.IsNaN(f.SlopeSE) || !tc.noErrEst && !near(f.SlopeSE, tc.se) {
				t.Errorf("slope SE %v, want %v (none: %v)", f.SlopeSE, tc.se, tc.noErrEst)
			}
		})
	}
}

func TestT975(t *testing.T) {
	for df, want := range map[int]float64{1: 12.706, 4: 2.776, 30: 2.042, 35: 2.042, 41: 2.021, 100: 2.000, 1000: 1.980} {
		if got := T975(df); got != want {
			t.Errorf("T975(%d) = %v, want %v", df, got, want)
		}
	}
	if !math.IsInf(T975(0), 1) {
		t.Errorf("T975(0) = %v, want +Inf", T975(0))
	}
}

// minutes returns n sample times a minute apart, in seconds, and n values
// from f(i).
func minutes(n int, f func(i int) float64) (xs, ys []float64) {
	for i := range n {
		xs = append(xs, float64(60*i))
		ys = append(ys, f(i))
	}
	return xs, ys
}

// alternating is ±amp around base, by the parity of i.
func alternating(base, amp float64) func(int) float64 {
	return func(i int) float64 { return base + amp*float64(1-2*(i%2)) }
}

func TestGrowth(t *testing.T) {
	const heap = 10e6 // 5 % per day is 500 kB per day, 5.8 B/s
	for _, tc := range []struct {
		name string
		n    int
		f    func(int) float64
		want Verdict
	}{
		{"flat with small noise", 25, alternating(heap, 1e3), Pass},
		{"slowly shrinking", 25, func(i int) float64 { return heap - 1e3*float64(i) }, Pass},
		{"steady growth, 100 B/s", 25, func(i int) float64 { return heap + 6e3*float64(i) }, Fail},
		{"growth just under the allowance, exact", 25, func(i int) float64 { return heap + 4.0*60*float64(i) }, Pass},
		{"flat but noisy: cannot tell", 25, alternating(heap, 2e6), Inconclusive},
		{"growth hidden in noise", 6, func(i int) float64 { return alternating(heap, 1e5)(i) + 6e3*float64(i) }, Inconclusive},
		{"two samples", 2, alternating(heap, 0), Inconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xs, ys := minutes(tc.n, tc.f)
			if got := Growth(xs, ys, 0.05); got.Verdict != tc.want {
				t.Errorf("Growth = %s (%s), want %s", got.Verdict, got.Why, tc.want)
			}
		})
	}
}

func TestBand(t *testing.T) {
	for _, tc := range []struct {
		name string
		ys   []float64
		want Verdict
	}{
		{"constant", []float64{40, 40, 40, 40}, Pass},
		{"within ±5", []float64{40, 45, 35, 42}, Pass},
		{"one beyond", []float64{40, 41, 46, 40}, Fail},
		{"creeping", []float64{40, 42, 44, 46}, Fail},
		{"none", nil, Inconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xs, _ := minutes(len(tc.ys), func(int) float64 { return 0 })
			if got := Band(xs, tc.ys, 5); got.Verdict != tc.want {
				t.Errorf("Band(%v) = %s (%s), want %s", tc.ys, got.Verdict, got.Why, tc.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	if r := Equal(412, 412); r.Verdict != Pass {
		t.Errorf("Equal(412, 412) = %v", r)
	}
	if r := Equal(412, 418); r.Verdict != Fail {
		t.Errorf("Equal(412, 418) = %v", r)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestLeastSquaresGiven(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name         string
		xs, ys       []float64
		zs           [][]float64
		slope, icept float64
		covs         []float64
		df           int
		se           float64
		wantErr      bool
	}{
		{name: "exact plane", xs: xs[:5], zs: [][]float64{{5, 3, 8, 1, 2}},
			ys: []float64{16, 12, 29, 10, 15}, slope: 2, icept: 1, covs: []float64{3}, df: 2}, // y = 1 + 2x + 3z
		{name: "two covariates, exact", xs: xs, zs: [][]float64{{5, 3, 8, 1, 2, 7}, {0, 1, 1, 0, 2, 1}},
			ys: []float64{16, 8, 25, 10, 7, 28}, slope: 2, icept: 1, covs: []float64{3, -4}, df: 2}, // y = 1 + 2x + 3z - 4w
		{name: "z constant: the plain line", xs: xs[:5], zs: [][]float64{{7, 7, 7, 7, 7}},
			ys: []float64{1, 3, 2, 5, 4}, slope: 0.8, icept: 1.4, covs: []float64{0}, df: 3, se: math.Sqrt(3.6 / 3 / 10)},
		{name: "x a line in z", xs: xs[:4], zs: [][]float64{{1, 3, 5, 7}}, ys: []float64{1, 2, 3, 5}, wantErr: true},
		{name: "x a combination of two", xs: xs, zs: [][]float64{{0, 1, 0, 1, 0, 1}, {0, 0, 2, 2, 4, 4}},
			ys: []float64{1, 2, 3, 5, 4, 6}, wantErr: true}, // x = z + w/2
		{name: "too few points", xs: xs[:3], zs: [][]float64{{1, 2, 1}}, ys: []float64{1, 2, 3}, wantErr: true},
		{name: "lengths differ", xs: xs[:3], zs: [][]float64{{1, 2}}, ys: []float64{1, 2, 3}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := LeastSquaresGiven(tc.xs, tc.ys, tc.zs...)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("LeastSquaresGiven = %+v, want an error", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !near(f.Slope, tc.slope) || !near(f.Intercept, tc.icept) || len(f.Covariates) != len(tc.covs) {
				t.Fatalf("fit %v + %v·x, covariates %v; want %v + %v·x, covariates %v", f.Intercept, f.Slope, f.Covariates, tc.icept, tc.slope, tc.covs)
			}
			for i, c := range tc.covs {
				if !near(f.Covariates[i], c) {
					t.Errorf("covariate %d: %v, want %v", i+1, f.Covariates[i], c)
				}
			}
			if f.DF != tc.df {
				t.Errorf("DF %d, want %d", f.DF, tc.df)
			}
			if math.Abs(f.SlopeSE-tc.se) > 1e-6 {
				t.Errorf("slope SE %v, want %v", f.SlopeSE, tc.se)
			}
		})
	}
}

// TestGrowthGiven is why the soak holds the pools fixed: a heap that
// follows only the size of the connection pools (11 kB a connection, as
// the gateway's do) is too noisy to judge by time alone, and flat once
// the pools are taken out; a leak beside the pools is still found.
func TestGrowthGiven(t *testing.T) {
	const heap, perConn = 4.3e6, 11e3
	pools := func(i int) float64 { return float64(12 + (i*7)%13) } // 12 to 24, in no order of time
	for _, tc := range []struct {
		name      string
		f         func(i int) float64
		raw, held Verdict
	}{
		{"the pools only", func(i int) float64 { return heap + perConn*pools(i) + float64(300*(i%2)) }, Inconclusive, Pass},
		{"a leak beside the pools, 700 B a minute", func(i int) float64 { return heap + perConn*pools(i) + float64(300*(i%2)) + 700*float64(i) }, Inconclusive, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xs, ys := minutes(25, tc.f)
			_, zs := minutes(25, pools)
			if got := Growth(xs, ys, 0.05); got.Verdict != tc.raw {
				t.Errorf("Growth = %s (%s), want %s", got.Verdict, got.Why, tc.raw)
			}
			got := GrowthGiven(xs, ys, 0.05, zs)
			if got.Verdict != tc.held {
				t.Errorf("GrowthGiven = %s (%s), want %s", got.Verdict, got.Why, tc.held)
			}
			if !strings.Contains(got.Why, "covariates held fixed") {
				t.Errorf("GrowthGiven's reason %q does not say the covariates were held fixed", got.Why)
			}
		})
	}
}
