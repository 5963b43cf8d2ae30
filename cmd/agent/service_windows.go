package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/shoal-project/shoal/agent"
	"github.com/shoal-project/shoal/cmd/internal/run"
)

const (
	serviceName    = "ShoalAgent"
	serviceDisplay = "Shoal agent"
	// stateDirSDDL gives SYSTEM and Administrators full control of the
	// state dir and its children and nobody else any access (protected:
	// nothing inherited from ProgramData, which lets Users read).
	stateDirSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
)

// serviceArg is the first argument of the service's command line, as
// registered by "shoal-agent install" and the MSI: it tells the process to
// run under the service control manager. svc.IsWindowsService (the parent
// is services.exe in session 0) is the fallback; it is false under wine,
// whose services.exe runs in another session.
const serviceArg = "service"

// serviceMain runs the agent under the service control manager when it
// started the process, and reports false otherwise.
func serviceMain(cfg *agent.Config, args []string) (bool, error) {
	if len(args) > 0 && args[0] == serviceArg {
		return true, runService(cfg, args[1:])
	}
	if in, err := svc.IsWindowsService(); err == nil && in {
		return true, runService(cfg, args)
	}
	return false, nil
}

// platformSubcommands are the Windows service subcommands.
func platformSubcommands(cfg *agent.Config) []run.Subcommand {
	return []run.Subcommand{
		{Name: "install", Summary: "register the ShoalAgent service (automatic start, LocalSystem) with these flags",
			Run: func(args []string) error { return installService(cfg, args) }},
		{Name: "uninstall", Summary: "stop and remove the ShoalAgent service and its firewall rules; -purge also deletes the state dir but its logs",
			Run: func(args []string) error { return uninstall(cfg, args) }},
		{Name: "firewall", Summary: "add (firewall add) or remove (firewall remove) the agent's inbound firewall rules (private and domain profiles)",
			Run: firewall},
		{Name: "start", Summary: "start the ShoalAgent service", Run: func([]string) error { return controlService(true) }},
		{Name: "stop", Summary: "stop the ShoalAgent service", Run: func([]string) error { return controlService(false) }},
	}
}

// installService registers the agent as an automatic service running as
// LocalSystem, with the flags given (for example -config), and creates the
// state dir readable by SYSTEM and Administrators only.
func installService(cfg *agent.Config, flags []string) error {
	if _, err := parseFlags("shoal-agent install", flags); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install service: %w", err)
	}
	dir := cfg.StateDir
	if dir == "" {
		dir = agent.DefaultStateDir()
	}
	if err := secureDir(dir); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("install service: connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("install service: %s is already installed", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: serviceDisplay, StartType: mgr.StartAutomatic, DelayedAutoStart: true,
		Description: "Shoal peer-assisted package deployment agent (OCS Inventory NG compatible).",
	}, append([]string{serviceArg}, flags...)...)
	if err != nil {
		return fmt.Errorf("install service: %w", err)
	}
	defer s.Close()
	restart := []mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: time.Minute}}
	if err := s.SetRecoveryActions(restart, 24*3600); err != nil {
		return fmt.Errorf("install service: recovery actions: %w", err)
	}
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		// Already registered (a reinstall): not an error.
		fmt.Fprintf(os.Stderr, "shoal-agent: event log source: %v\n", err)
	}
	if err := runFirewall(exe, true); err != nil {
		return fmt.Errorf("install service: %w", err)
	}
	fmt.Printf("service %s installed; state in %s, logs in %s\n", serviceName, dir, filepath.Join(dir, "logs"))
	return nil
}

// uninstall stops and removes the service (if it is still installed: the
// MSI's uninstall removes it before running this), its event log source
// and its firewall rules, and with -purge deletes the state dir except its
// logs. The MSI runs "uninstall -purge" when it is removed.
func uninstall(cfg *agent.Config, args []string) error {
	fs := flag.NewFlagSet("shoal-agent uninstall", flag.ContinueOnError)
	purge := fs.Bool("purge", false, "also delete the state dir (identity, jobs, fragments) but its logs directory")
	stateDir := fs.String("state-dir", "", "the state dir to purge (default: the config's state_dir, else %ProgramData%\\Shoal)")
	conf := fs.String("config", "", "YAML config file (for its state_dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := run.LoadConfig(*conf, cfg); err != nil {
		return err
	}
	var errs []error
	if err := uninstallService(); err != nil {
		errs = append(errs, err)
	}
	eventlog.Remove(serviceName)
	if exe, err := os.Executable(); err == nil {
		errs = append(errs, runFirewall(exe, false))
	}
	if *purge {
		dir := cmp.Or(*stateDir, cfg.StateDir, agent.DefaultStateDir())
		if err := purgeStateDir(dir); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Printf("state dir %s purged; logs kept in %s\n", dir, filepath.Join(dir, "logs"))
		}
	}
	return errors.Join(errs...)
}

// uninstallService stops and deletes the service; one that is not
// installed is not an error.
func uninstallService() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("uninstall service: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		fmt.Printf("service %s is not installed\n", serviceName)
		return nil
	}
	defer s.Close()
	if err := stopAndWait(s); err != nil {
		return fmt.Errorf("uninstall service: %w", err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("uninstall service: %w", err)
	}
	fmt.Printf("service %s removed\n", serviceName)
	return nil
}

// firewall is the "firewall add|remove" subcommand; the MSI runs
// "firewall add" at install.
func firewall(args []string) error {
	if len(args) != 1 || (args[0] != "add" && args[0] != "remove") {
		return errors.New("usage: shoal-agent firewall add|remove")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	return runFirewall(exe, args[0] == "add")
}

// runFirewall adds or removes the agent's firewall rules with netsh.
// Deleting a rule that does not exist fails in netsh and is ignored.
func runFirewall(exe string, add bool) error {
	for _, line := range firewallCommands(exe, add) {
		c := exec.Command(filepath.Join(os.Getenv("SystemRoot"), "System32", "netsh.exe"))
		c.SysProcAttr = &windows.SysProcAttr{CmdLine: line}
		out, err := c.CombinedOutput()
		if err != nil && !strings.Contains(line, " delete rule ") {
			return fmt.Errorf("firewall: %s: %w: %s", line, err, strings.TrimSpace(string(out)))
		}
	}
	if add {
		fmt.Println("firewall rules ShoalAgent-TCP and ShoalAgent-UDP allow inbound peers on private and domain networks")
	} else {
		fmt.Println("firewall rules ShoalAgent-TCP and ShoalAgent-UDP removed")
	}
	return nil
}

func controlService(start bool) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("%s is not installed: %w", serviceName, err)
	}
	defer s.Close()
	if start {
		if err := s.Start(); err != nil {
			return fmt.Errorf("start %s: %w", serviceName, err)
		}
		return nil
	}
	return stopAndWait(s)
}

// stopAndWait stops s and waits up to 30 s for it to stop.
func stopAndWait(s *mgr.Service) error {
	st, err := s.Control(svc.Stop)
	if err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return nil
		}
		return fmt.Errorf("stop %s: %w", serviceName, err)
	}
	for deadline := time.Now().Add(30 * time.Second); st.State != svc.Stopped; {
		if time.Now().After(deadline) {
			return fmt.Errorf("stop %s: still %d after 30s", serviceName, st.State)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("stop %s: %w", serviceName, err)
		}
	}
	return nil
}

// parseFlags parses the agent's common flags, whose state dir flag is
// -state-dir.
func parseFlags(name string, args []string) (*run.Flags, error) {
	return run.Command{Name: name, DirFlag: "state-dir"}.Parse(args, io.Discard)
}

// secureStateDir gives the state dir the SYSTEM-and-Administrators ACL
// before enrollment writes the agent's identity into it: the MSI's
// enrollment runs before any "install", and ProgramData lets Users read.
func secureStateDir(dir string) error { return secureDir(dir) }

// secureDir creates dir and gives it the SYSTEM-and-Administrators ACL.
func secureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(stateDirSDDL)
	if err != nil {
		return fmt.Errorf("state dir ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("state dir ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("state dir ACL on %s: %w", dir, err)
	}
	return nil
}

// runService runs the agent under the service control manager, logging to
// a rotating file under the state dir, and start, stop and failures also
// to the Windows event log.
func runService(cfg *agent.Config, args []string) error {
	f, err := parseFlags("shoal-agent", args)
	if err == nil {
		err = run.LoadConfig(f.Config, cfg)
	}
	if err != nil {
		return err
	}
	if f.DataDir != "" {
		cfg.StateDir = f.DataDir
	}
	dir := cfg.StateDir
	if dir == "" {
		dir = agent.DefaultStateDir()
	}
	lf, err := openLogFile(filepath.Join(dir, "logs", "shoal-agent.log"), 10<<20, 5)
	if err != nil {
		return err
	}
	defer lf.Close()
	var w io.Writer = lf
	log, err := run.Logger(w, f.LogLevel, f.LogJSON)
	if err != nil {
		return err
	}
	if el, err := eventlog.Open(serviceName); err == nil {
		defer el.Close()
		log = slog.New(eventHandler{Handler: log.Handler(), el: el})
	}
	return svc.Run(serviceName, &handler{log: log, run: func(ctx context.Context) error {
		a, err := agent.New(*cfg, log)
		if err != nil {
			return err
		}
		return a.Run(ctx)
	}})
}

type handler struct {
	log *slog.Logger
	run func(context.Context) error
}

func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	events := make(chan svcEvent)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case c := <-r:
				ev := svcInterrogate
				if c.Cmd == svc.Stop || c.Cmd == svc.Shutdown {
					ev = svcStop
				}
				select {
				case events <- ev:
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	report := func(st svcState) {
		switch st {
		case stateStartPending:
			s <- svc.Status{State: svc.StartPending}
		case stateRunning:
			s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
		case stateStopPending:
			s <- svc.Status{State: svc.StopPending, WaitHint: 30000}
		case stateStopped:
			// svc.Run reports Stopped itself once Execute returns.
		}
	}
	code := serviceLoop(events, report, h.run, h.log)
	return code != 0, code
}

// eventHandler copies the service's start, stop and error records to the
// Windows event log; everything goes to the log file.
type eventHandler struct {
	slog.Handler
	el *eventlog.Log
}

func (e eventHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		e.el.Error(3, r.Message)
	case r.Message == "service started" || r.Message == "service stopped":
		e.el.Info(1, r.Message)
	}
	return e.Handler.Handle(ctx, r)
}
