package pki

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/statefile"
)

const (
	adminFile = "admin.json"
	// InitialPasswordFile holds a generated first admin password (0600) until
	// the admin deletes it, like Jenkins' initialAdminPassword.
	InitialPasswordFile = "initial-admin-password"
	// AdminUser is the name of the built-in administrator.
	AdminUser = "admin"
	// minPasswordLen is the shortest password accepted from the environment.
	minPasswordLen = 12
)

// ErrWeakPassword is returned when the configured admin password is too short.
var ErrWeakPassword = errkind.New(errkind.Invalid, "pki: admin password must have at least 12 characters")

// Admin is the built-in administrator credential. Only a bcrypt hash is kept.
type Admin struct {
	User string `json:"user"`
	Hash []byte `json:"hash"`
	// Changed is when the password was set (zero in files written before
	// it was recorded). Sessions opened before it are over.
	Changed time.Time `json:"changed,omitzero"`
}

// LoadAdmin loads the admin credential from dir, creating it at first start.
// When envPassword is non-empty it becomes the password (and replaces a
// stored one that differs). Otherwise a random password is generated once,
// returned as generated and stored in InitialPasswordFile with mode 0600.
func LoadAdmin(dir, envPassword string) (a *Admin, generated string, err error) {
	path := filepath.Join(dir, adminFile)
	if envPassword != "" && len(envPassword) < minPasswordLen {
		return nil, "", ErrWeakPassword
	}
	a = &Admin{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, a); err != nil || a.User == "" || len(a.Hash) == 0 {
			return nil, "", fmt.Errorf("pki: %s is corrupt: %w", path, ErrBadKey)
		}
		if envPassword == "" || a.Check(AdminUser, envPassword) {
			return a, "", nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", fmt.Errorf("pki: read admin credential: %w", err)
	}
	pass := envPassword
	if pass == "" {
		var raw [18]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, "", fmt.Errorf("pki: generate password: %w", err)
		}
		pass = base64.RawURLEncoding.EncodeToString(raw[:])
		generated = pass
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return nil, "", fmt.Errorf("pki: hash password: %w", err)
	}
	a = &Admin{User: AdminUser, Hash: hash, Changed: time.Now().UTC()}
	out, err := json.Marshal(a)
	if err != nil {
		return nil, "", fmt.Errorf("pki: encode admin credential: %w", err)
	}
	if generated != "" {
		if err := statefile.WriteBytes(filepath.Join(dir, InitialPasswordFile), []byte(generated+"\n"), 0o600); err != nil {
			return nil, "", err
		}
	} else {
		_ = os.Remove(filepath.Join(dir, InitialPasswordFile))
	}
	if err := statefile.WriteBytes(path, out, 0o600); err != nil {
		return nil, "", err
	}
	return a, generated, nil
}

// Check reports whether user and password match, in constant time for the
// user name and through bcrypt for the password.
func (a *Admin) Check(user, password string) bool {
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(a.User)) == 1
	okPass := bcrypt.CompareHashAndPassword(a.Hash, []byte(password)) == nil
	return okUser && okPass
}
