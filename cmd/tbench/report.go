package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Results of a row.
const (
	resultPass  = "pass"
	resultMiss  = "miss"
	resultInfo  = "info"  // no target: reported for context
	resultError = "error" // the measurement failed
)

// Kinds of targets.
const (
	targetRatioMin = "ratio>=" // value/baseline at least limit
	targetAddedMax = "added<=" // value−baseline at most limit (in the row's unit)
	targetMax      = "value<="
	targetEqual    = "value=="
)

type target struct {
	Kind  string  `json:"kind"`
	Limit float64 `json:"limit"`
}

func (t target) String() string {
	switch t.Kind {
	case targetRatioMin:
		return fmt.Sprintf("ratio ≥ %g", t.Limit)
	case targetAddedMax:
		return fmt.Sprintf("added ≤ %g", t.Limit)
	case targetMax:
		return fmt.Sprintf("≤ %g", t.Limit)
	}
	return fmt.Sprintf("= %g", t.Limit)
}

// row is one line of the table: a value, the baseline it is measured against in the same run,
// their ratio (value/baseline) and difference (value−baseline), and the target if there is one.
type row struct {
	Figure   int      `json:"figure"`
	Metric   string   `json:"metric"`
	Unit     string   `json:"unit"`
	Value    *float64 `json:"value"`
	Baseline *float64 `json:"baseline"`
	Ratio    *float64 `json:"ratio"`
	Added    *float64 `json:"added"`
	Target   *target  `json:"target"`
	Result   string   `json:"result"`
	Note     string   `json:"note,omitempty"`
}

func num(v float64) *float64 { return &v }

// info is a row with a value and no baseline.
func info(metric, unit string, v float64, note string) row {
	return row{Metric: metric, Unit: unit, Value: num(v), Result: resultInfo, Note: note}
}

// versus is a row of a value against its baseline.
func versus(metric, unit string, v, base float64, note string) row {
	r := info(metric, unit, v, note)
	r.Baseline, r.Added = num(base), num(v-base)
	if base != 0 {
		r.Ratio = num(v / base)
	}
	return r
}

// want sets the row's target and judges it.
func (r row) want(kind string, limit float64) row {
	r.Target = &target{Kind: kind, Limit: limit}
	var ok bool
	switch kind {
	case targetRatioMin:
		ok = r.Ratio != nil && *r.Ratio >= limit
	case targetAddedMax:
		ok = r.Added != nil && *r.Added <= limit
	case targetMax:
		ok = r.Value != nil && *r.Value <= limit
	case targetEqual:
		ok = r.Value != nil && *r.Value == limit
	}
	r.Result = resultMiss
	if ok {
		r.Result = resultPass
	}
	return r
}

// figureResult is one figure of the report.
type figureResult struct {
	ID       int     `json:"id"`
	Title    string  `json:"title"`
	Baseline string  `json:"baseline"`
	Seconds  float64 `json:"seconds"`
	Rows     []row   `json:"rows"`
}

// report is the JSON file.
type report struct {
	Tool     string         `json:"tool"`
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"seconds"`
	Quick    bool           `json:"quick"`
	Machine  machine        `json:"machine"`
	Settings map[string]any `json:"settings"`
	Figures  []figureResult `json:"figures"`
}

func writeJSON(path string, r report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printTable writes the figures as one table.
func printTable(w io.Writer, figs []figureResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIG\tMETRIC\tVALUE\tBASELINE\tRATIO\tADDED\tTARGET\tRESULT")
	for _, f := range figs {
		fmt.Fprintf(tw, "%d\t%s\t\t\t\t\t\t\n", f.ID, strings.ToUpper(f.Title))
		for _, r := range f.Rows {
			tgt := ""
			if r.Target != nil {
				tgt = r.Target.String()
			}
			res := r.Result
			if r.Note != "" && r.Result == resultError {
				res += ": " + r.Note
			}
			fmt.Fprintf(tw, "%d\t  %s (%s)\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Figure, r.Metric, r.Unit,
				fmtNum(r.Value), fmtNum(r.Baseline), fmtRatio(r.Ratio), fmtAdded(r.Added), tgt, res)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nBaselines (measured in the same run; ratio = value/baseline, added = value−baseline):")
	for _, f := range figs {
		fmt.Fprintf(w, "  %d: %s\n", f.ID, f.Baseline)
	}
	return nil
}

func fmtNum(v *float64) string {
	if v == nil {
		return "—"
	}
	a := math.Abs(*v)
	switch {
	case a >= 1000 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", *v)
	case a >= 10:
		return fmt.Sprintf("%.1f", *v)
	case a >= 0.1:
		return fmt.Sprintf("%.2f", *v)
	}
	return fmt.Sprintf("%.3f", *v)
}

func fmtRatio(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", *v)
}

func fmtAdded(v *float64) string {
	if v == nil {
		return "—"
	}
	if *v < 0 {
		return fmtNum(v)
	}
	return "+" + fmtNum(v)
}
