package project

import (
	"encoding/json"
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
