package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"customersuccess.dev/success-operator/internal/testenv"
)

// csmSection is the README section whose shell blocks readmeCommands runs:
// what a customer-success manager is told to type must work.
const csmSection = "## For customer-success managers"

// readmeCommand is one command of a README shell block.
type readmeCommand struct {
	line int      // 1-based line in README.md
	text string   // as written, without its comment
	args []string // split as a POSIX shell would, "kubectl" first
}

// readmeCommands runs every kubectl command of the README's section for
// customer-success managers with the real kubectl against the demo, once
// its accounts have a history, and asserts that each exits 0 and prints
// something on stdout (kubectl says "No resources found" and "No events
// found" on stderr).
func (e *env) readmeCommands() {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "README.md"))
	if err != nil {
		e.t.Fatal(err)
	}
	cmds, err := parseReadme(string(b), csmSection)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cmds {
		cmd := exec.Command(e.kubectl, append([]string{"--kubeconfig", e.kubeconfig}, c.args[1:]...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			e.t.Errorf("README.md:%d: %s: %v\n%s%s", c.line, c.text, err, stdout.String(), stderr.String())
			continue
		}
		if strings.TrimSpace(stdout.String()) == "" {
			e.t.Errorf("README.md:%d: %s: printed nothing\n%s", c.line, c.text, stderr.String())
			continue
		}
		e.t.Logf("README.md:%d: %s: %d lines", c.line, c.text, strings.Count(stdout.String(), "\n"))
	}
}

// parseReadme returns the kubectl commands of the fenced sh blocks of one
// level-2 section of a README. Anything else in those blocks but blank and
// comment lines is an error, so that no command is skipped unnoticed.
func parseReadme(readme, section string) ([]readmeCommand, error) {
	var (
		cmds                     []readmeCommand
		inSection, inBlock, isSh bool
	)
	for i, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inBlock && strings.TrimRight(line, " ") == section:
			inSection = true
			continue
		case !inBlock && (strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ")):
			inSection = false
			continue
		}
		if !inSection {
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			if !inBlock {
				lang := strings.TrimPrefix(trimmed, "```")
				isSh = lang == "sh" || lang == "shell" || lang == "bash"
			}
			inBlock = !inBlock
			continue
		}
		if !inBlock || !isSh || trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		args, err := splitCommand(trimmed)
		if err != nil {
			return nil, fmt.Errorf("README.md:%d: %w", i+1, err)
		}
		if len(args) == 0 || args[0] != "kubectl" {
			return nil, fmt.Errorf("README.md:%d: %q is not a kubectl command", i+1, trimmed)
		}
		cmds = append(cmds, readmeCommand{line: i + 1, text: strings.Join(args, " "), args: args})
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("no kubectl commands in the sh blocks of %q", section)
	}
	return cmds, nil
}

// splitCommand splits a command line into words as a POSIX shell does for
// plain words, single and double quotes and a trailing comment. Other shell
// syntax (pipes, redirections, expansions, escapes) is refused: the
// README's commands are run without a shell.
func splitCommand(line string) ([]string, error) {
	var (
		args          []string
		word          strings.Builder
		inWord        bool
		quote         rune // 0, '\'' or '"'
		refusedPlain  = "|&;<>()$`\\"
		refusedQuoted = "$`\\"
	)
	for _, r := range line {
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
				continue
			}
			word.WriteRune(r)
		case quote == '"':
			if r == '"' {
				quote = 0
				continue
			}
			if strings.ContainsRune(refusedQuoted, r) {
				return nil, fmt.Errorf("%q: %q in double quotes needs a shell", line, r)
			}
			word.WriteRune(r)
		case r == ' ' || r == '\t':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return args, nil
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case strings.ContainsRune(refusedPlain, r):
			return nil, fmt.Errorf("%q: %q needs a shell", line, r)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", line)
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       []string
		wantErr    bool
	}{
		{name: "words are split on spaces", line: "kubectl get acct  -n customers",
			want: []string{"kubectl", "get", "acct", "-n", "customers"}},
		{name: "a trailing comment is dropped", line: "kubectl get acct   # or: kubectl get customeraccounts",
			want: []string{"kubectl", "get", "acct"}},
		{name: "single quotes keep a jsonpath whole", line: `kubectl get plan smb -o jsonpath='{.status.kpis}'`,
			want: []string{"kubectl", "get", "plan", "smb", "-o", "jsonpath={.status.kpis}"}},
		{name: "a # inside a word or quotes is not a comment", line: `kubectl get acct -l a#b -o "jsonpath={#}"`,
			want: []string{"kubectl", "get", "acct", "-l", "a#b", "-o", "jsonpath={#}"}},
		{name: "a pipe is refused", line: "kubectl get acct | grep acme", wantErr: true},
		{name: "an expansion is refused", line: "kubectl get acct -n $NS", wantErr: true},
		{name: "an unterminated quote is refused", line: "kubectl get acct -o 'yaml", wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := splitCommand(c.line)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want an error: %v", err, c.wantErr)
			}
			if !c.wantErr && !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestReadmeCSMCommandsParse checks, without a control plane, that the
// README's section for customer-success managers parses into kubectl
// commands; TestDemoEndToEnd runs them.
func TestReadmeCSMCommandsParse(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := parseReadme(string(b), csmSection)
	if err != nil {
		t.Fatal(err)
	}
	// The commands run against the demo: a namespace they name is the
	// demo's.
	for _, c := range cmds {
		for i, arg := range c.args {
			ns, ok := strings.CutPrefix(arg, "--namespace=")
			if !ok && (arg == "-n" || arg == "--namespace") && i+1 < len(c.args) {
				ns, ok = c.args[i+1], true
			}
			if ok && ns != namespace {
				t.Errorf("README.md:%d: %s: namespace %s, but the demo is in %s", c.line, c.text, ns, namespace)
			}
		}
	}
}
