package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// This file is the software dictionary: the automatic title of a software
// name, and the admin's rules that merge names into titles and give them
// categories.

var (
	// parenthesized drops "(x64 fr)", "[64-bit]".
	parenthesized = regexp.MustCompile(`\s*[(\[][^()\[\]]*[)\]]`)
	// trailingNoise is a version, an architecture or a language code at
	// the end of a name, with the separator before it.
	trailingNoise = regexp.MustCompile(`(?i)(\s+|\s*[-–,]\s*)(v?\d+(?:[._-]\d+)*[a-z]?\d*|x64|x86|x86_64|amd64|arm64|i[3-6]86|64-bit|32-bit|64 bits?|32 bits?|[a-z]{2}(?:-[a-z]{2})?)$`)
	spaces        = regexp.MustCompile(`\s+`)
)

// langCodes are the lone language codes AutoTitle drops at the end of a
// name; other two-letter words ("Go", "R") stay.
var langCodes = map[string]bool{"en": true, "fr": true, "de": true, "es": true, "it": true, "nl": true, "pt": true,
	"ru": true, "ja": true, "zh": true, "pl": true, "sv": true, "en-us": true, "en-gb": true, "fr-fr": true, "de-de": true}

// AutoTitle is the title of a software name without rules: the name
// without parenthesized parts and without versions, architectures and
// language codes at its end ("Mozilla Firefox (x64 fr)" and "Mozilla
// Firefox 131.0" are "Mozilla Firefox"; "7-Zip 24.08 (x64)" is "7-Zip").
// A name that would become empty stays as it is.
func AutoTitle(name string) string {
	t := parenthesized.ReplaceAllString(name, "")
	for {
		m := trailingNoise.FindStringSubmatchIndex(t)
		if m == nil {
			break
		}
		word := t[m[4]:m[5]]
		if isLetters(word) && !langCodes[strings.ToLower(word)] {
			break
		}
		if strings.TrimSpace(t[:m[0]]) == "" {
			break
		}
		t = t[:m[0]]
	}
	t = strings.TrimSpace(spaces.ReplaceAllString(t, " "))
	t = strings.TrimRight(t, " -–,")
	if t == "" {
		return strings.TrimSpace(name)
	}
	return t
}

func isLetters(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// dictionary is the compiled rules.
type dictionary []compiledRule

type compiledRule struct {
	re              *regexp.Regexp
	title, category string
}

func compileRules(rules []store.SoftwareRule, log *slog.Logger) dictionary {
	out := make(dictionary, 0, len(rules))
	for _, r := range rules {
		re, err := compilePattern(r.Pattern)
		if err != nil {
			log.Warn("software rule skipped", "rule", r.ID, "err", err)
			continue
		}
		out = append(out, compiledRule{re: re, title: r.Title, category: r.Category})
	}
	return out
}

func compilePattern(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("(?i)" + p)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", p, store.ErrInvalid)
	}
	return re, nil
}

// apply returns the title and category of a software name: the first
// matching rule's (its title, else the automatic one), else the automatic
// title and no category.
func (d dictionary) apply(name string) (title, category string) {
	for _, r := range d {
		if r.re.MatchString(name) {
			if r.title != "" {
				return r.title, r.category
			}
			return AutoTitle(name), r.category
		}
	}
	return AutoTitle(name), ""
}

// maxRuleText bounds a rule's pattern, title and category.
const maxRuleText = 200

// Rules returns the dictionary rules in the order they apply.
func (c *Catalog) Rules(ctx context.Context) ([]api.SoftwareRule, error) {
	rules, err := c.store.SoftwareRules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.SoftwareRule, len(rules))
	for i, r := range rules {
		out[i] = ruleOf(&r)
	}
	return out, nil
}

func ruleOf(r *store.SoftwareRule) api.SoftwareRule {
	return api.SoftwareRule{ID: r.ID, Pattern: r.Pattern, Title: r.Title, Category: r.Category, Position: r.Position}
}

// SaveRule creates a rule (id 0) or replaces rule id, after checking it: a
// pattern that is a valid regular expression, texts of at most 200 bytes.
// It is audited.
func (c *Catalog) SaveRule(ctx context.Context, who audit.Actor, id uint, in api.SoftwareRuleRequest) (*api.SoftwareRule, error) {
	r := store.SoftwareRule{ID: id, Pattern: strings.TrimSpace(in.Pattern), Title: strings.TrimSpace(in.Title),
		Category: strings.TrimSpace(in.Category), Position: in.Position}
	if r.Pattern == "" {
		return nil, fmt.Errorf("software rule: empty pattern: %w", store.ErrInvalid)
	}
	if len(r.Pattern) > maxRuleText || len(r.Title) > maxRuleText || len(r.Category) > maxRuleText {
		return nil, fmt.Errorf("software rule: pattern, title and category are at most %d bytes: %w", maxRuleText, store.ErrInvalid)
	}
	if _, err := compilePattern(r.Pattern); err != nil {
		return nil, fmt.Errorf("software rule: %w", err)
	}
	if err := c.store.SaveSoftwareRule(ctx, &r); err != nil {
		return nil, err
	}
	action := "software_rule.update"
	if id == 0 {
		action = "software_rule.create"
	}
	c.audit.Record(ctx, who, action, fmt.Sprint(r.ID), fmt.Sprintf("pattern %q title %q category %q position %d", r.Pattern, r.Title, r.Category, r.Position))
	out := ruleOf(&r)
	return &out, nil
}

// DeleteRule deletes a rule; it is audited.
func (c *Catalog) DeleteRule(ctx context.Context, who audit.Actor, id uint) error {
	r, err := c.store.SoftwareRule(ctx, id)
	if err != nil {
		return err
	}
	if err := c.store.DeleteSoftwareRule(ctx, id); err != nil {
		return err
	}
	c.audit.Record(ctx, who, "software_rule.delete", fmt.Sprint(id), fmt.Sprintf("pattern %q title %q", r.Pattern, r.Title))
	return nil
}
