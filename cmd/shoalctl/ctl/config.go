package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto/api"
)

// Config is what login saves: the server, the CA file that signs its
// certificate, and an API token.
type Config struct {
	Server    string `json:"server"`
	CAFile    string `json:"ca_file,omitempty"`
	Token     string `json:"token"`
	TokenName string `json:"token_name,omitempty"`
	User      string `json:"user,omitempty"`
}

// configPath returns where the config lives: --config, $SHOALCTL_CONFIG,
// or $XDG_CONFIG_HOME (else ~/.config)/shoal/shoalctl.json.
func (c *cli) configPath() (string, error) {
	if c.g.config != "" {
		return c.g.config, nil
	}
	if p := c.io.Getenv(EnvConfig); p != "" {
		return p, nil
	}
	dir := c.io.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := c.io.Getenv("HOME")
		if home == "" {
			d, err := os.UserConfigDir()
			if err != nil {
				return "", fmt.Errorf("find the config directory: %w", err)
			}
			return filepath.Join(d, "shoal", "shoalctl.json"), nil
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "shoal", "shoalctl.json"), nil
}

// loadConfig reads the saved config; a missing file gives an empty one.
func loadConfig(path string) (Config, error) {
	var cfg Config
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// saveConfig writes cfg with mode 0600 (its directory 0700), atomically.
func saveConfig(path string, cfg Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := statefile.Write(path, cfg, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// connection resolves server, CA and token: flags, then the environment,
// then the saved config.
func (c *cli) connection() (Config, error) {
	path, err := c.configPath()
	if err != nil {
		return Config{}, err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return cfg, err
	}
	pick := func(flag, env, saved string) string {
		if flag != "" {
			return flag
		}
		if v := c.io.Getenv(env); v != "" {
			return v
		}
		return saved
	}
	cfg.Server = pick(c.g.server, EnvServer, cfg.Server)
	cfg.CAFile = pick(c.g.ca, EnvCA, cfg.CAFile)
	cfg.Token = pick(c.g.token, EnvToken, cfg.Token)
	return cfg, nil
}

// client returns an API client for the resolved connection.
func (c *cli) client() (*Client, error) {
	cfg, err := c.connection()
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("no API token: run 'shoalctl login' or pass --token")
	}
	return NewClient(cfg.Server, cfg.CAFile, cfg.Token, c.g.timeout)
}

func runLogin(ctx context.Context, c *cli, args []string) error {
	set := c.flags("login")
	user := set.String("user", "admin", "admin user name")
	stdin := set.Bool("password-stdin", false, "read the password from standard input")
	name := set.String("token-name", "", "name of the minted token (default shoalctl USER@HOST)")
	expires := set.String("expires-in", "", "token lifetime, e.g. 720h (default: no expiry)")
	readonly := set.Bool("readonly", false, "mint a read-only token")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	path, err := c.configPath()
	if err != nil {
		return err
	}
	saved, err := loadConfig(path)
	if err != nil {
		return err
	}
	cfg := Config{Server: c.g.server, CAFile: c.g.ca, Token: c.g.token}
	if cfg.Server == "" {
		cfg.Server = c.io.Getenv(EnvServer)
	}
	if cfg.Server == "" {
		cfg.Server = saved.Server
	}
	if cfg.CAFile == "" {
		cfg.CAFile = c.io.Getenv(EnvCA)
	}
	if cfg.CAFile == "" && c.g.server == "" {
		cfg.CAFile = saved.CAFile
	}
	if cfg.CAFile != "" {
		if cfg.CAFile, err = filepath.Abs(cfg.CAFile); err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
	}
	if cfg.Token == "" {
		cfg.Token = c.io.Getenv(EnvToken)
	}
	cl, err := NewClient(cfg.Server, cfg.CAFile, cfg.Token, c.g.timeout)
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg.Server = cl.Server()

	if cfg.Token == "" {
		pass := c.io.Getenv(EnvPassword)
		if pass == "" {
			if pass, err = c.password(ctx, *user, *stdin); err != nil {
				return err
			}
		}
		host, _ := os.Hostname()
		req := api.TokenRequest{Name: *name, ExpiresIn: *expires}
		if req.Name == "" {
			req.Name = "shoalctl " + *user + "@" + host
		}
		if *readonly {
			req.Role = api.RoleReadOnly
		}
		cl.user, cl.pass = *user, pass
		var tok api.Token
		if err := cl.Do(ctx, "POST", "/tokens", nil, req, &tok); err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				ae.Hint = fmt.Sprintf("wrong password for user %q: type it again, or set %s; central printed the first admin "+
					"password once and keeps it in <data_dir>/initial-admin-password until that file is deleted", *user, EnvPassword)
			}
			return fmt.Errorf("mint a token: %w", err)
		}
		cl.user, cl.pass = "", ""
		cfg.Token, cfg.TokenName, cfg.User = tok.Token, tok.Name, *user
		cl.token = tok.Token
	}
	var info api.ServerInfo
	if err := cl.Do(ctx, "GET", "/server", nil, nil, &info); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			ae.Hint = "central does not accept this token (wrong, expired or revoked): pass another --token, or log in " +
				"without one to mint a token with the admin password"
		}
		return fmt.Errorf("check the token: %w", err)
	}
	if err := saveConfig(path, cfg); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(map[string]any{"server": cfg.Server, "caller": info.Caller, "config": path})
	}
	fmt.Fprintf(c.io.Stdout, "Logged in to %s as %s (%s). Saved in %s.\n", cfg.Server, info.Caller.Name, info.Caller.Role, path)
	return nil
}

// password reads the admin password from stdin (--password-stdin) or from
// the terminal without echo.
func (c *cli) password(ctx context.Context, user string, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(c.io.Stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			return "", errors.New("empty password on standard input")
		}
		return line, nil
	}
	in, ok := c.io.Stdin.(*os.File)
	if !ok || !isTerminal(in) {
		return "", fmt.Errorf("no terminal to ask the password: set %s, use --password-stdin, or pass --token", EnvPassword)
	}
	fmt.Fprintf(c.io.Stderr, "Password for %s: ", user)
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	restore, err := noEcho(in)
	if err != nil {
		return "", err
	}
	go func() {
		b, err := readLine(in)
		ch <- result{b, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		restore()
		fmt.Fprintln(c.io.Stderr)
		return "", ctx.Err()
	case <-time.After(5 * time.Minute):
		restore()
		fmt.Fprintln(c.io.Stderr)
		return "", errors.New("no password typed within 5 minutes")
	}
	restore()
	fmt.Fprintln(c.io.Stderr)
	if r.err != nil {
		return "", fmt.Errorf("read password: %w", r.err)
	}
	if len(r.b) == 0 {
		return "", errors.New("empty password")
	}
	return string(r.b), nil
}

// readLine reads up to a newline, one byte at a time so nothing after it
// is consumed.
func readLine(r io.Reader) ([]byte, error) {
	var out []byte
	var b [1]byte
	for len(out) < 4096 {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return []byte(strings.TrimRight(string(out), "\r")), nil
			}
			out = append(out, b[0])
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("password line too long")
}

func runLogout(_ context.Context, c *cli, args []string) error {
	set := c.flags("logout")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	path, err := c.configPath()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logout: %w", err)
	}
	fmt.Fprintf(c.io.Stdout, "Removed %s. The token stays valid until an admin revokes it.\n", path)
	return nil
}
