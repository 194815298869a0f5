package mcp

import "strings"

// Bounds of a saved query's tool name: the datasource's part, the query's
// part, and the whole, which stays within the 64 characters of
// [a-zA-Z0-9_-] that the strictest agents accept (MCP itself allows 128
// of [A-Za-z0-9_.-]).
const (
	maxDatasourcePart = 20
	maxQueryPart      = 40
	idSuffix          = 6 // characters of the query's id added to names that would be alike
)

// namePart is a name as part of a tool name: ASCII letters and digits
// lower-cased, any run of other characters one underscore, none at the
// ends, at most max characters ("x" when nothing is left).
func namePart(s string, max int) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			continue
		}
		under = true
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max], "_")
	}
	if out == "" {
		out = "x"
	}
	return out
}

// toolRef is a saved query to be named as a tool.
type toolRef struct {
	datasource, query, id string
}

// toolNames names each saved query's tool "<datasource>__<query>" from
// both names (namePart). Names that would come out alike all get the end
// of their query's id, so that each name is unique and stays the same
// whatever other queries exist. A built-in tool's name has no double
// underscore, so none can be taken.
func toolNames(refs []toolRef) []string {
	names := make([]string, len(refs))
	count := map[string]int{}
	for i, r := range refs {
		names[i] = namePart(r.datasource, maxDatasourcePart) + "__" + namePart(r.query, maxQueryPart)
		count[names[i]]++
	}
	for i, r := range refs {
		if count[names[i]] == 1 {
			continue
		}
		id := namePart(r.id, 64)
		if len(id) > idSuffix {
			id = id[len(id)-idSuffix:]
		}
		q := namePart(r.query, maxQueryPart-idSuffix-1)
		names[i] = namePart(r.datasource, maxDatasourcePart) + "__" + q + "_" + id
	}
	// Ids that end alike (never, for random ids): the id names the tool.
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for i, r := range refs {
		if seen[names[i]] > 1 {
			names[i] = namePart(r.datasource, maxDatasourcePart) + "__" + namePart(r.id, maxQueryPart)
		}
	}
	return names
}
