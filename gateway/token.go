package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the file under Config.Data that keeps the operator token when none is configured.
const TokenFileName = "operator-token"

// operatorToken returns the configured token, or the one kept in <data>/operator-token, creating it on first start.
// The token itself is never logged: the log names the file.
func operatorToken(cfg Config, logger *slog.Logger) (string, error) {
	if cfg.OperatorToken != "" {
		if len(cfg.OperatorToken) < 16 {
			return "", errors.New("the operator token must be at least 16 characters")
		}
		return cfg.OperatorToken, nil
	}
	if cfg.OperatorTokenFile != "" {
		b, err := os.ReadFile(cfg.OperatorTokenFile)
		if err != nil {
			return "", fmt.Errorf("operator token file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", fmt.Errorf("operator token file %s: the token must be at least 16 characters", cfg.OperatorTokenFile)
		}
		return t, nil
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.Data, TokenFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("operator token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := "whop_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	logger.Warn("created an operator token in its file; read it from there", "file", path)
	return tok, nil
}
