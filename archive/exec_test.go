package archive

import "os/exec"

func lookPath(name string) (string, error) { return exec.LookPath(name) }

func command(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd.CombinedOutput()
}
