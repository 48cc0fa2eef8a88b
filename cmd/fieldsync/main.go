// Command fieldsync syncs photo-heavy field projects device to device.
//
// Each subcommand lives in its own file, cmd_<verb>.go, and registers itself
// in an init function; main only dispatches. Exit codes shared by every
// subcommand: 0 success, 1 failure (the message says what failed and what to
// do next), 2 bad usage, 5 not a member, 7 the disk is full. Some
// subcommands document more.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/fieldsync/fieldsync/node"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitNotMember: a peer does not know this device as a member of its
	// project (sync, serve).
	exitNotMember = 5
	// exitBlocked: this device was blocked from the project (sync, serve).
	exitBlocked = 6
	// exitNoSpace: the disk holding the data directory is full (import,
	// add, edit --add, sync); what was done before is kept.
	exitNoSpace = 7
)

// command is one subcommand.
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // full help: synopsis, description, examples, exit codes
	// run executes the subcommand with its arguments (after the verb).
	run func(ctx context.Context, env *env, args []string) error
}

// env carries the process's streams so tests can run commands in process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("fieldsync: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is returned for bad usage; it makes the process exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	node.UseGCPercent() // the collector's target, unless GOGC is set
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	writeProfiles := startProfiles(os.Args[1:])
	code := runMain(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	writeProfiles()
	os.Exit(code)
}

func runMain(ctx context.Context, e *env, args []string) int {
	args, err := globalOptions(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "fieldsync: %v; run 'fieldsync help' for the list\n", err)
		return exitUsage
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprint(e.stdout, c.usage)
				return exitOK
			}
		}
		printCommands(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(e.stderr, "fieldsync: %q before the command: only --data DIR may come there (like git -C); run 'fieldsync help'\n", args[0])
		return exitUsage
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "fieldsync: unknown command %q; run 'fieldsync help' for the list\n", args[0])
		return exitUsage
	}
	err = c.run(ctx, e, args[1:])
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "fieldsync %s: %s\nrun 'fieldsync %s --help' for usage\n", c.name, ue.msg, c.name)
		return exitUsage
	}
	msg, code := words(err)
	fmt.Fprintf(e.stderr, "fieldsync %s: %v\n", c.name, msg)
	var xe *exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	return code
}

// globalOptions moves a --data DIR given before the command to after it,
// so that 'fieldsync --data DIR ls' works as 'fieldsync ls --data DIR'
// (like git -C and restic -r).
func globalOptions(args []string) ([]string, error) {
	var global []string
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--data" || a == "-data":
			if len(args) < 2 {
				return nil, fmt.Errorf("%s needs a directory", a)
			}
			global, args = append(global, "--data", args[1]), args[2:]
		case strings.HasPrefix(a, "--data=") || strings.HasPrefix(a, "-data="):
			global, args = append(global, a), args[1:]
		default:
			if len(global) == 0 {
				return args, nil
			}
			if len(args) == 0 || strings.HasPrefix(args[0], "-") {
				return args, nil
			}
			out := append([]string{args[0]}, global...)
			return append(out, args[1:]...), nil
		}
	}
	if len(global) > 0 {
		return nil, fmt.Errorf("--data given, but no command after it")
	}
	return args, nil
}

func printCommands(w io.Writer) {
	fmt.Fprintln(w, "fieldsync syncs photo-heavy field projects device to device, with no server.")
	fmt.Fprintln(w, "\nUsage: fieldsync [--data DIR] COMMAND [options] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'fieldsync COMMAND --help' for a command's options, examples and exit codes.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 bad usage, 5 not a member of the peers' project,")
	fmt.Fprintln(w, "6 this device was blocked from the project, 7 the disk holding the data directory")
	fmt.Fprintln(w, "is full (commands may add more).")
}

// newFlags makes a FlagSet for c whose -h/--help prints c.usage and whose
// parse errors become usage errors.
func newFlags(c *command, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	_ = e
	return fs
}

// parseFlags parses args, printing the command's help for -h and turning
// other errors into usage errors. Flags may follow positional arguments.
func parseFlags(c *command, e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(e.stdout, c.usage)
				return nil, flag.ErrHelp
			}
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
				return nil, usagef("there is no option --%s for %s", strings.TrimLeft(name, "-"), c.name)
			}
			return nil, usagef("%s", strings.Replace(err.Error(), " for flag -", " for --", 1))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "-" || !strings.HasPrefix(rest[0], "-") {
			pos = append(pos, rest[0])
			args = rest[1:]
			continue
		}
		args = rest
	}
}
