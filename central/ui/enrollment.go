package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
)

// This file serves the Enrollment page: agent enrollment tokens, minted
// with the commands that enroll a Linux agent (shoal-agent enroll) and
// install a Windows agent (the msiexec line of the MSI), shown once.

// enrollmentView is the data of the Enrollment page.
type enrollmentView struct {
	// Tokens are the agent enrollment tokens (relay tokens are on the
	// Relays page).
	Tokens []store.EnrollmentToken
	Form   map[string]string
	Errors map[string]string
	// Created is the token just minted, with its commands (shown once).
	Created *auth.TokenInfo
	Now     time.Time
}

func (u *UI) registerEnrollment(g *echo.Group) {
	g.GET("/enrollment", u.handleEnrollment)
	g.POST("/enrollment", u.handleCreateEnrollmentToken)
	g.POST("/enrollment/:id/revoke", u.handleRevokeEnrollmentToken)
}

func (u *UI) enrollmentView(c echo.Context) (*enrollmentView, error) {
	ts, err := u.deps.Store.ListEnrollmentTokens(c.Request().Context())
	if err != nil {
		return nil, err
	}
	v := &enrollmentView{Form: map[string]string{"expires_hours": "168"}, Errors: map[string]string{}, Now: u.now()}
	for _, t := range ts {
		if t.KindOrAgent() == store.TokenKindAgent {
			v.Tokens = append(v.Tokens, t)
		}
	}
	return v, nil
}

func (u *UI) handleEnrollment(c echo.Context) error {
	v, err := u.enrollmentView(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "enrollment", "Enrollment", "enrollment", v)
}

// handleCreateEnrollmentToken mints an agent enrollment token and shows
// it once with the Linux and Windows commands that use it.
func (u *UI) handleCreateEnrollmentToken(c echo.Context) error {
	v, err := u.enrollmentView(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("name"))
	uses, hours := strings.TrimSpace(c.FormValue("max_uses")), strings.TrimSpace(c.FormValue("expires_hours"))
	v.Form = map[string]string{"name": name, "max_uses": uses, "expires_hours": hours}
	if name == "" {
		v.Errors["name"] = "Name the token after the computers it enrolls, e.g. branch-12 desktops."
	}
	maxUses := 0
	if uses != "" {
		if maxUses, err = strconv.Atoi(uses); err != nil || maxUses < 0 {
			v.Errors["max_uses"] = "Enter a number of enrollments, or leave it empty for no limit."
		}
	}
	expires := ""
	if hours != "" {
		if n, err := strconv.Atoi(hours); err != nil || n < 1 || n > 24*365 {
			v.Errors["expires_hours"] = "Enter a number of hours from 1 to 8760, or leave it empty for no expiry."
		} else {
			expires = fmt.Sprintf("%dh", n)
		}
	}
	if len(v.Errors) > 0 {
		return u.render(c, http.StatusBadRequest, "enrollment", "Enrollment", "enrollment", v)
	}
	info, err := u.deps.Ops.MintEnrollmentToken(c.Request().Context(), u.actor(c),
		auth.TokenRequest{Name: name, Kind: store.TokenKindAgent, MaxUses: maxUses, ExpiresIn: expires})
	if errors.Is(err, auth.ErrBadTokenRequest) {
		v.Errors["name"] = err.Error()
		return u.render(c, http.StatusBadRequest, "enrollment", "Enrollment", "enrollment", v)
	}
	if err != nil {
		return err
	}
	if v, err = u.enrollmentView(c); err != nil {
		return err
	}
	v.Created = &info
	return u.render(c, http.StatusCreated, "enrollment", "Enrollment", "enrollment", v)
}

func (u *UI) handleRevokeEnrollmentToken(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Ops.RevokeEnrollmentToken(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/enrollment?done=revoked")
}
