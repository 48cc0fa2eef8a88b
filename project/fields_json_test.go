package project

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFieldValueJSON: a field value is written in JSON as a person reads
// it, and read back the same.
func TestFieldValueJSON(t *testing.T) {
	for _, tc := range []struct {
		v    FieldValue
		want string
	}{
		{TextValue("canoe"), `"canoe"`},
		{NumberValue(1.2), `1.2`},
		{ListValue([]string{"fishing", "a;b"}), `["fishing","a;b"]`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%v: %s %v, want %s", tc.v, b, err, tc.want)
		}
		var back FieldValue
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tc.v) {
			t.Errorf("%s: read back %#v %v", b, back, err)
		}
	}
	var v FieldValue
	for _, bad := range []string{`true`, `[1]`, `{}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestParseList: a form's list of options is read whole, item by item.
func TestParseList(t *testing.T) {
	many := &CategoryField{Key: "catch", Label: "Catch", Type: FieldSelectMany,
		Options: []Option{{Value: "fish;shrimp", Label: "Fish; shrimp"}, {Value: "crab", Label: "Crab, small"}, {Value: "eel", Label: "Eel"}}}
	num := &CategoryField{Key: "depth", Label: "Depth", Type: FieldNumber}
	for _, tc := range []struct {
		f     *CategoryField
		items []string
		want  FieldValue
		err   string
	}{
		{many, []string{"eel", " fish;shrimp ", "Crab, small", ""}, ListValue([]string{"fish;shrimp", "crab", "eel"}), ""},
		{many, []string{"fish", "shrimp"}, FieldValue{}, `"fish" is not one of its options`},
		{many, []string{"eel; Crab, small"}, ListValue([]string{"crab", "eel"}), ""}, // one item, separated as typed
		{many, []string{" "}, FieldValue{}, "no option given"},
		{num, []string{"1.5"}, NumberValue(1.5), ""},
		{num, []string{"1", "2"}, FieldValue{}, "2 values given: a number field takes one"},
	} {
		v, err := tc.f.ParseList(tc.items)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.items, err, tc.err)
			}
			continue
		}
		if err != nil || !v.Equal(tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.items, v, err, tc.want)
		}
	}
}
