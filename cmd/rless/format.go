package main

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

// The --format of the commands that list or inspect things, as podman's
// (containers/common's pkg/report):
//
//   - "json" (or "{{json .}}"): the items as an indented JSON array (see
//     isJSONFormat; the command prints its own JSON form);
//   - "" or "table": the command's default row, aligned in columns under a
//     header line;
//   - "table ROW": the template ROW once per item, aligned under a header
//     line (spaces in ROW separate columns as tabs do);
//   - anything else: a Go template printed once per item, as it is.
//
// In a user's template the escapes \t and \n stand for a tab and a newline
// (unless that makes the template invalid: {{printf "\n"}}), and a newline
// ends each item's output unless the template ranges over the items itself
// ({{range .}}...{{end}}). A header cell is the name of the field the
// column prints, split into words and upper-cased (.ImageID: IMAGE ID)
// unless the command names it otherwise (ps's .ID: CONTAINER ID).

// jsonFormat matches the --format values that ask for JSON.
var jsonFormat = lazyRegexp(`^\s*(json|{{\s*json\s*\.?\s*}})\s*$`)

// isJSONFormat says whether format asks for the command's JSON output.
func isJSONFormat(format string) bool {
	return strings.Contains(format, "json") && jsonFormat().MatchString(format)
}

// templateFuncs are the functions a --format template may call (podman's).
var templateFuncs = template.FuncMap{
	"join": strings.Join,
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": titleCase,
	"split": strings.Split,
	"pad": func(s string, prefix, suffix int) string {
		if s == "" {
			return s
		}
		return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
	},
	"truncate": func(s string, n int) string {
		if len(s) < n || n < 0 {
			return s
		}
		return s[:n]
	},
}

// titleCase upper-cases the first letter of each word of s (the deprecated
// strings.Title, which podman's "title" is).
func titleCase(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		if isSeparator(prev) {
			b.WriteRune(unicode.ToTitle(r))
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

func isSeparator(r rune) bool {
	switch {
	case r <= 0x7F:
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '_')
	case unicode.IsLetter(r), unicode.IsDigit(r):
		return false
	}
	return unicode.IsSpace(r)
}

var (
	// tableEscapes turn a "table" format's escapes and spaces into the
	// tabs and newlines they stand for.
	tableEscapes = strings.NewReplacer(`\t`, "\t", `\n`, "\n", " ", "\t")
	// escapes turn a template's escapes into the characters.
	escapes = strings.NewReplacer(`\t`, "\t", `\n`, "\n")
	// rangeAction matches a template that ranges over the items itself.
	rangeAction = lazyRegexp(`{{\s*range\s*\.\s*}}.*{{\s*end\s*-?\s*}}`)
)

// report is a parsed --format that is not JSON.
type report struct {
	tmpl *template.Template
	// table is true for a table: columns aligned, under a header line.
	table bool
}

// parseReport parses format for the command name whose default row (a
// template of one item's cells separated by tabs) is row.
func parseReport(name, format, row string) (*report, error) {
	var text, raw string
	r := &report{}
	switch {
	case format == "" || strings.TrimSpace(format) == "table":
		r.table = true
		text = "{{range .}}" + row + "\n{{end -}}"
	case strings.HasPrefix(format, "table "):
		r.table = true
		rest := strings.TrimPrefix(format, "table ")
		text = "{{range .}}" + withNewline(tableEscapes.Replace(rest)) + "{{end -}}"
		raw = "{{range .}}" + rest + "{{end -}}"
	default:
		text = enforceRange(withNewline(escapes.Replace(format)))
		raw = enforceRange(format)
	}
	tmpl, err := template.New(name).Funcs(templateFuncs).Parse(text)
	if err != nil && raw != "" {
		// The escapes made it invalid ({{printf "\n"}}): take it as it is.
		tmpl, err = template.New(name).Funcs(templateFuncs).Parse(raw)
	}
	if err != nil {
		return nil, err
	}
	r.tmpl = tmpl
	return r, nil
}

func withNewline(s string) string {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func enforceRange(s string) string {
	if rangeAction().MatchString(s) {
		return s
	}
	return "{{range .}}" + s + "{{end -}}"
}

// write writes items (a slice) to w as r says: a table has a header line
// (unless noHeading), whose cells are the fields' names as headers gives
// them (see headerName). Nothing is written if the template fails.
func (r *report) write(w io.Writer, items any, headers map[string]string, noHeading bool) error {
	var buf bytes.Buffer
	out := io.Writer(&buf)
	var tw *tabwriter.Writer
	if r.table {
		tw = tabwriter.NewWriter(&buf, 12, 2, 2, ' ', tabwriter.StripEscape)
		out = tw
		if !noHeading {
			if err := r.tmpl.Execute(out, []map[string]any{headerData(r.tmpl, headers)}); err != nil {
				return err
			}
		}
	}
	if err := r.tmpl.Execute(out, items); err != nil {
		return err
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// headerData returns what a table's template prints as its header line: a
// map of each field it refers to to the field's header (nested for
// .A.B).
func headerData(tmpl *template.Template, headers map[string]string) map[string]any {
	data := map[string]any{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			m := data
			for i, id := range n.Ident {
				if i == len(n.Ident)-1 {
					if _, ok := m[id]; !ok {
						m[id] = headerName(id, headers)
					}
					break
				}
				sub, ok := m[id].(map[string]any)
				if !ok {
					sub = map[string]any{}
					m[id] = sub
				}
				m = sub
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	if tmpl.Tree != nil {
		walk(tmpl.Tree.Root)
	}
	return data
}

// headerName returns the header of a column that prints field: headers's
// word for it, else its name split into words (ImageID: IMAGE ID),
// upper-cased.
func headerName(field string, headers map[string]string) string {
	if h, ok := headers[field]; ok {
		return strings.ToUpper(h)
	}
	return strings.ToUpper(strings.Join(splitCamel(field), " "))
}

// splitCamel splits a Go identifier into its words: runs of lower-case
// letters, of upper-case letters (an upper-case letter followed by
// lower-case ones starts a word: "HTTPServer" is HTTP Server), of digits
// and of other characters.
func splitCamel(s string) []string {
	if !utf8.ValidString(s) {
		return []string{s}
	}
	class := func(r rune) int {
		switch {
		case unicode.IsLower(r):
			return 1
		case unicode.IsUpper(r):
			return 2
		case unicode.IsDigit(r):
			return 3
		}
		return 4
	}
	var runs [][]rune
	last := 0
	for _, r := range s {
		c := class(r)
		if c == last {
			runs[len(runs)-1] = append(runs[len(runs)-1], r)
		} else {
			runs = append(runs, []rune{r})
		}
		last = c
	}
	// "HTTPServer": the last capital of HTTPS starts "Server".
	for i := 0; i < len(runs)-1; i++ {
		if unicode.IsUpper(runs[i][0]) && unicode.IsLower(runs[i+1][0]) {
			runs[i+1] = append([]rune{runs[i][len(runs[i])-1]}, runs[i+1]...)
			runs[i] = runs[i][:len(runs[i])-1]
		}
	}
	var words []string
	for _, r := range runs {
		if len(r) > 0 {
			words = append(words, string(r))
		}
	}
	return words
}

// lazyRegexp returns a function that compiles expr on its first call (a
// regular expression compiled at package initialisation would cost every
// call of rless, most of which never use it).
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
