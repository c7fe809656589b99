package gateway

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOperatorTokenSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny\n"), 0o600)

	tests := []struct {
		name    string
		cfg     Config
		want    string
		wantErr string
	}{
		{"flag wins", Config{OperatorToken: "from-flag-0123456789", OperatorTokenFile: file, Data: dir}, "from-flag-0123456789", ""},
		{"flag too short", Config{OperatorToken: "short", Data: dir}, "", "at least 16"},
		{"file", Config{OperatorTokenFile: file, Data: dir}, "from-file-0123456789", ""},
		{"file too short", Config{OperatorTokenFile: short, Data: dir}, "", "at least 16"},
		{"file missing", Config{OperatorTokenFile: filepath.Join(dir, "nope"), Data: dir}, "", "operator token file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := operatorToken(tt.cfg, slog.New(slog.DiscardHandler))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("operatorToken = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("operatorToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	// Neither set: a token is created once in <data>/operator-token (0600) and read back on the next start.
	data := filepath.Join(dir, "data")
	first, err := operatorToken(Config{Data: data}, slog.New(slog.DiscardHandler))
	if err != nil || !strings.HasPrefix(first, "whop_") {
		t.Fatalf("generated token = %q, %v", first, err)
	}
	st, err := os.Stat(filepath.Join(data, "operator-token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("operator-token file: %v, mode %v", err, st.Mode())
	}
	again, err := operatorToken(Config{Data: data}, slog.New(slog.DiscardHandler))
	if err != nil || again != first {
		t.Fatalf("second start read %q, %v; want the first token", again, err)
	}
}
