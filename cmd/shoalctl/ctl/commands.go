package ctl

import "context"

// command is one shoalctl command, such as "package create". Commands are
// NOUN VERB, like kubectl's and nomad's: package, computer, site, group,
// relay, assignment, search, user, role, token, settings, audit, each with list, get and
// the actions that apply. The spellings of earlier releases ("computers",
// "sites create", "relays token", "assign", …) stay as aliases, so scripts
// and the README keep working.
type command struct {
	name    string
	aliases []string
	// synopsis is what follows the name on a usage line.
	synopsis string
	// summary is one line for the command list.
	summary string
	// description says more in "shoalctl help NAME"; summary when empty.
	description string
	// args are the positional arguments: name and meaning.
	args [][2]string
	// examples are complete command lines, each run by a test as printed.
	examples []string
	run      func(ctx context.Context, c *cli, args []string) error
}

// Positional arguments shared by several commands.
var (
	argPackage    = [2]string{"PKG", "a package ID, the digits in the first column of 'shoalctl package list'"}
	argComputer   = [2]string{"ID", "a computer ID, the first column of 'shoalctl computer list'"}
	argSite       = [2]string{"SITE", "a site name (any case) or its ID"}
	argGroup      = [2]string{"GROUP", "a group name or its ID"}
	argAssignment = [2]string{"ID", "an assignment ID, the first column of 'shoalctl assignment list'"}
	argUser       = [2]string{"USER", "a user name or its ID, the first column of 'shoalctl user list'"}
	argRole       = [2]string{"ROLE", "a role name, or a custom role's ID"}
)

// searchFlags is the synopsis of the inventory search flags.
const searchFlags = "[--name N] [--os OS] [--software S [--software-version '< 24']] [--no-software S] [--ip CIDR] [--tag T] [--site SITE] [--contact-since 24h] [--contact-before 720h] [--search SAVED]"

func commands() []command {
	return []command{
		{name: "login", synopsis: "--server URL [--ca FILE] [--user admin] [--token T | --password-stdin]",
			summary:     "Mint an API token with a password and save it.",
			description: "Log in once: the server, the CA file and a newly minted API token are kept in ~/.config/shoal/shoalctl.json (mode 0600), and every other command reads them. The password comes from SHOAL_PASSWORD, standard input (--password-stdin) or a prompt. With --token, the given token is saved instead.",
			examples:    []string{"shoalctl login --server https://central.example:8443 --ca cacert.pem --token shoal_example"},
			run:         runLogin},
		{name: "logout", summary: "Forget the saved server and token.", examples: []string{"shoalctl logout"}, run: runLogout},
		{name: "version", summary: "Print shoalctl's version and, when logged in, central's.",
			examples: []string{"shoalctl version", "shoalctl version -o json"}, run: runVersion},
		{name: "completion", synopsis: "bash|zsh", summary: "Print a shell completion script.",
			description: "Print a completion script for bash or zsh. Load it in the current shell with: source <(shoalctl completion bash)",
			args:        [][2]string{{"SHELL", "bash or zsh"}},
			examples:    []string{"shoalctl completion bash", "shoalctl completion zsh"}, run: runCompletion},
		{name: "help", synopsis: "[COMMAND]", summary: "Explain a command: what it does, its arguments, options and examples.",
			args: [][2]string{{"COMMAND", "a command or a noun, such as 'computer list' or 'package'"}}, examples: []string{"shoalctl help package affect"}},

		{name: "package create", synopsis: "FILE (--command C | --path P | --launch L) [--action EXECUTE|STORE|LAUNCH] [--name N] [--priority 0-10] [--fragments N]",
			summary:     "Upload a file as a new package, with a progress bar on stderr.",
			description: "Upload FILE, streamed, as a new package. An EXECUTE or LAUNCH file must be a tar.gz or zip archive that agents unpack before they run --command or --launch; STORE copies the file to --path. Central cuts it into fragments, signs its manifest and prints the package.",
			args:        [][2]string{{"FILE", "the file to upload"}},
			examples:    []string{"shoalctl package create app.tar.gz --name app --command 'sh install.sh' --fragments 4"},
			run:         runPackageCreate},
		{name: "package list", synopsis: "[--limit N] [--offset N]", summary: "List packages, newest first.",
			examples: []string{"shoalctl package list", "shoalctl package list -o wide --no-headers"}, run: runPackageList},
		{name: "package get", aliases: []string{"package show"}, synopsis: "PKG", summary: "Show a package: digests, signature, fragments, deployments, downloads.",
			args: [][2]string{argPackage}, examples: []string{"shoalctl package get 20261205064500", "shoalctl package get 20261205064500 -o yaml"}, run: runPackageShow},
		{name: "package delete", synopsis: "PKG", summary: "Delete a package, its files and its deployments.",
			args: [][2]string{argPackage}, examples: []string{"shoalctl package delete 20261205064500"}, run: runPackageDelete},
		{name: "package activate", synopsis: "PKG [--info-loc L] [--pack-loc L] [--proto HTTP|HTTPS] [--skip-check]",
			summary:     "Check that agents can fetch the package there, then activate it.",
			description: "Central fetches the info file and every fragment from where agents will (central by default, or --info-loc and --pack-loc) and verifies them before it marks the package active; relays are told to prefetch it.",
			args:        [][2]string{argPackage}, examples: []string{"shoalctl package activate 20261205064500"}, run: runPackageActivate},
		{name: "package deactivate", synopsis: "PKG", summary: "Stop advertising a package.",
			args: [][2]string{argPackage}, examples: []string{"shoalctl package deactivate 20261205064500"}, run: runPackageDeactivate},
		{name: "package affect", synopsis: "PKG (--computer ID... | " + searchFlags + ") [--all] [--dry-run] [--force]",
			summary:     "Assign a package to computers by ID or by inventory search; --dry-run only counts them.",
			description: "Create a deployment of PKG for each computer given with --computer or found by the search flags (the same as 'computer list'). Computers of another platform are excluded and the answer says why. Selecting every computer needs --all. To keep applying the package to computers that join later, use 'shoalctl assignment create'.",
			args:        [][2]string{argPackage},
			examples: []string{"shoalctl package affect 20261205064500 --software openssl --dry-run",
				"shoalctl package affect 20261205064500 --computer 12,13"},
			run: runPackageAffect},
		{name: "package purge", synopsis: "PKG", summary: "Drop a package from every relay's cache.",
			args: [][2]string{argPackage}, examples: []string{"shoalctl package purge 20261205064500"}, run: runPackagePurge},

		{name: "deploy status", aliases: []string{"deployment list"}, synopsis: "PKG [--state S] [--site SITE|none] [--watch] [--interval 2s] [--limit N]",
			summary:     "Deployment counts and per-computer rows of a package; --watch redraws until all are final.",
			description: "Print how many deployments of PKG are in each state and one row per computer: fragments done, bytes from peers, relay and central, and the result. With --watch the table is redrawn in place (JSON lines with -o json) until every deployment is final or Ctrl-C.",
			args:        [][2]string{argPackage},
			examples:    []string{"shoalctl deploy status 20261205064500 --watch", "shoalctl deploy status 20261205064500 --state error --site paris"},
			run:         runDeployStatus},
		{name: "deploy redeploy", synopsis: "DEPLOYMENT_ID", summary: "Deploy again (even where the package is installed).",
			args: [][2]string{{"DEPLOYMENT_ID", "the first column of 'shoalctl deploy status'"}}, examples: []string{"shoalctl deploy redeploy 7"}, run: runDeployRedeploy},
		{name: "deploy cancel", synopsis: "DEPLOYMENT_ID", summary: "Cancel an unfinished deployment.",
			args: [][2]string{{"DEPLOYMENT_ID", "the first column of 'shoalctl deploy status'"}}, examples: []string{"shoalctl deploy cancel 7"}, run: runDeployCancel},
		{name: "codes", synopsis: "[CODE]", summary: "Explain a deployment result code (ERR_DOWNLOAD_INFO, EXIT_CODE_3, …), or list every OCS and Shoal code.",
			args: [][2]string{{"CODE", "a result code as 'deploy status' prints it"}}, examples: []string{"shoalctl codes ERR_BAD_DIGEST"}, run: runCodes},

		{name: "computer list", aliases: []string{"computers", "computers list", "computer search"}, synopsis: searchFlags + " [--limit N] [--offset N]",
			summary:     "Search computers.",
			description: "List the computers the search flags select, all of them without flags. Flags combine with AND. --software-version compares versions the way package versions sort (24.00 > 9.1), --no-software selects computers without that software, and --search applies a saved search (see 'shoalctl search').",
			examples: []string{"shoalctl computer list --software 7-Zip --software-version '< 24'",
				"shoalctl computer list --site paris --contact-before 720h -o wide",
				"shoalctl computer list --os windows --no-software 'Microsoft Defender' -o json"},
			run: runComputers},
		{name: "computer get", aliases: []string{"computers show", "computers get", "computer show"}, synopsis: "ID", summary: "Show a computer's inventory summary and deployment history.",
			args: [][2]string{argComputer}, examples: []string{"shoalctl computer get 12", "shoalctl computer get 12 -o yaml"}, run: runComputerShow},
		{name: "computer tag", aliases: []string{"computers tag"}, synopsis: "ID TAG", summary: "Set a computer's OCS TAG; an OCS agent adopts it at its next inventory.",
			args: [][2]string{argComputer, {"TAG", "the new TAG"}}, examples: []string{"shoalctl computer tag 12 paris"}, run: runComputerTag},
		{name: "computer history", aliases: []string{"computers history"}, synopsis: "ID [--limit N]",
			summary: "A computer's change history: software installed, removed, upgraded; hardware, OS, address and site changes.",
			args:    [][2]string{argComputer}, examples: []string{"shoalctl computer history 12", "shoalctl computer history 12 --limit 20 -o json"}, run: runComputerHistory},
		{name: "computer wake", aliases: []string{"computers wake"}, synopsis: "ID",
			summary: "Wake a computer: a relay or an awake Shoal agent of its site sends the Wake-on-LAN magic packet.",
			args:    [][2]string{argComputer}, examples: []string{"shoalctl computer wake 12"}, run: runComputerWake},
		{name: "computer wakes", aliases: []string{"computers wakes"}, synopsis: "ID",
			summary: "List a computer's wake requests: sent by, woken or not.",
			args:    [][2]string{argComputer}, examples: []string{"shoalctl computer wakes 12"}, run: runComputerWakes},
		{name: "computer delete", aliases: []string{"computers delete"}, synopsis: "ID", summary: "Delete a computer and its deployments.",
			args: [][2]string{argComputer}, examples: []string{"shoalctl computer delete 12"}, run: runComputerDelete},
		{name: "computer export", aliases: []string{"computers export"}, synopsis: searchFlags + " [--file F]",
			summary:     "Write the computers a search selects as CSV (every match, not one page).",
			description: "Write the search result as CSV, one line per computer with its ID, name, OS, address, site, TAG, serial, MAC, memory, first seen, last inventory and last contact (RFC 3339, UTC), to standard output or --file.",
			examples:    []string{"shoalctl computer export --software 7-Zip --software-version '< 24' --file old-7zip.csv"},
			run:         runComputerExport},

		{name: "search list", aliases: []string{"searches"}, summary: "List the saved searches you may use: yours and the shared ones.",
			examples: []string{"shoalctl search list"}, run: runSearchList},
		{name: "search get", synopsis: "NAME|ID", summary: "Show a saved search's criteria.",
			args: [][2]string{{"NAME|ID", "a saved search"}}, examples: []string{"shoalctl search get old-7zip"}, run: runSearchGet},
		{name: "search create", synopsis: "NAME " + searchFlags + " [--shared] [--description D]",
			summary:     "Save an inventory search under a name, private or --shared.",
			description: "Save the search flags under NAME. A private search is seen only by its owner; a --shared one by everyone. 'computer list --search NAME', 'computer export --search NAME', 'package affect --search NAME' and 'group create --search NAME' (a dynamic group) reuse it.",
			args:        [][2]string{{"NAME", "the search's name"}},
			examples:    []string{"shoalctl search create old-7zip --software 7-Zip --software-version '< 24' --shared"},
			run:         runSearchCreate},
		{name: "search delete", synopsis: "NAME|ID", summary: "Delete a saved search.",
			args: [][2]string{{"NAME|ID", "a saved search"}}, examples: []string{"shoalctl search delete old-7zip"}, run: runSearchDelete},

		{name: "user list", aliases: []string{"users"}, summary: "List local and directory users with their role and scope.",
			examples: []string{"shoalctl user list", "shoalctl user list -o wide"}, run: runUserList},
		{name: "user get", synopsis: "USER", summary: "Show a user: role, sites and TAGs, source, last login.",
			args: [][2]string{argUser}, examples: []string{"shoalctl user get tom"}, run: runUserGet},
		{name: "user create", synopsis: "NAME --role ROLE [--site SITE...] [--tag TAG...] [--password-file F | --password-stdin]",
			summary:     "Create a local user with a role and, optionally, a scope.",
			description: "Create a local user who logs in to the web UI and with 'shoalctl login --user NAME'. --site and --tag limit it to the computers of those sites or with those OCS TAGs (either matches); without them it sees the whole fleet. The password (at least 12 characters) comes from --password-file, --password-stdin or " + EnvUserPassword + ".",
			args:        [][2]string{{"NAME", "the user's login name"}},
			examples:    []string{"shoalctl user create tom --role technician --site paris --password-file tom.pw"},
			run:         runUserCreate},
		{name: "user update", synopsis: "USER [--role ROLE] [--site SITE...] [--tag TAG...] [--whole-fleet] [--password-file F | --password-stdin]",
			summary:     "Change a user's role, scope or password (options not given keep their value).",
			description: "Change a user's role, sites, TAGs or password; what is not given keeps its value, and --whole-fleet removes the sites and TAGs. The user's sessions end when its scope or password changes. A user that logs in through LDAP cannot be changed: its directory groups give its role and scope at every login (auth.ldap.groups).",
			args:        [][2]string{argUser},
			examples:    []string{"shoalctl user update tom --role readonly", "shoalctl user update tom --site paris,branch-12 --tag shop"},
			run:         runUserUpdate},
		{name: "user delete", synopsis: "USER", summary: "Delete a user; its sessions and API tokens stop working.",
			args: [][2]string{argUser}, examples: []string{"shoalctl user delete tom"}, run: runUserDelete},
		{name: "role list", aliases: []string{"roles"}, summary: "List the roles: built-in (admin, readonly) and custom, with their permissions.",
			examples: []string{"shoalctl role list"}, run: runRoleList},
		{name: "role get", synopsis: "ROLE", summary: "Show a role's permissions.",
			args: [][2]string{argRole}, examples: []string{"shoalctl role get technician"}, run: runRoleGet},
		{name: "role create", synopsis: "NAME --permission P... [--description D]",
			summary:     "Create a custom role from permissions.",
			description: "Create a role that grants the permissions given: computers.read, computers.write, computers.secrets, deploy, packages.read, packages.write, fleet.read, fleet.write, admin. A user's sites and TAGs limit where its role applies.",
			args:        [][2]string{{"NAME", "the role's name: lower-case letters, digits, '.', '_' or '-'"}},
			examples:    []string{"shoalctl role create technician --permission computers.read,deploy,packages.read --description 'branch technicians'"},
			run:         runRoleCreate},
		{name: "role update", synopsis: "ROLE [--permission P...] [--add P] [--remove P] [--description D]",
			summary:  "Change a custom role's permissions or description; its users get them at their next request.",
			args:     [][2]string{argRole},
			examples: []string{"shoalctl role update technician --add computers.write", "shoalctl role update technician --permission computers.read,deploy"},
			run:      runRoleUpdate},
		{name: "role delete", synopsis: "ROLE", summary: "Delete a custom role that no user or API token holds.",
			args: [][2]string{argRole}, examples: []string{"shoalctl role delete technician"}, run: runRoleDelete},

		{name: "site list", aliases: []string{"sites", "sites list"}, summary: "List sites.", examples: []string{"shoalctl site list"}, run: runSitesList},
		{name: "site get", aliases: []string{"sites get", "sites show", "site show"}, synopsis: "SITE", summary: "Show a site: CIDRs, fragment location, time zone, window, computers.",
			args: [][2]string{argSite}, examples: []string{"shoalctl site get paris"}, run: runSiteGet},
		{name: "site create", aliases: []string{"sites create"}, synopsis: "NAME --cidr CIDR... [--fragment-location host:port/path] [--description D] [--time-zone TZ] [--window \"mon-fri 22:00-06:00\"]",
			summary: "Create a site.", args: [][2]string{{"NAME", "the site's name"}},
			examples: []string{"shoalctl site create branch-12 --cidr 10.12.0.0/16 --time-zone Europe/Paris"}, run: runSitesCreate},
		{name: "site update", aliases: []string{"sites update"}, synopsis: "SITE [--name N] [--cidr CIDR...] [--fragment-location L] [--description D] [--window W|always]",
			summary: "Change a site (options not given keep their value).", args: [][2]string{argSite},
			examples: []string{"shoalctl site update branch-12 --window 'mon-fri 22:00-06:00'"}, run: runSitesUpdate},
		{name: "site import", aliases: []string{"sites import"}, synopsis: "FILE|-", summary: "Create or update sites from CSV lines: name, CIDRs (space or ; separated), time zone.",
			args: [][2]string{{"FILE", "a CSV file, or - for standard input"}}, examples: []string{"shoalctl site import sites.csv"}, run: runSitesImport},
		{name: "site delete", aliases: []string{"sites delete"}, synopsis: "SITE", summary: "Delete a site.",
			args: [][2]string{argSite}, examples: []string{"shoalctl site delete branch-12"}, run: runSitesDelete},

		{name: "group list", aliases: []string{"groups", "groups list"}, summary: "List groups: kind, members, saved search.", examples: []string{"shoalctl group list"}, run: runGroupsList},
		{name: "group create", aliases: []string{"groups create"}, synopsis: "NAME [--computer ID...] [" + searchFlags + "] [--description D] [--window W] [--prolog-freq H] [--ocs-timings short|default] [--cycle-latency S] [--frag-latency S] [--period-latency S]",
			summary:     "Create a static group (--computer) or a dynamic one (search flags, re-evaluated at every inventory).",
			description: "A group with --computer members is static; one with search flags (or --search, a saved search) is dynamic: central re-evaluates it at every inventory, and packages assigned to it reach computers that join later.",
			args:        [][2]string{{"NAME", "the group's name"}},
			examples:    []string{"shoalctl group create debian-hosts --os debian", "shoalctl group create pilots --computer 12,13"},
			run:         runGroupsCreate},
		{name: "group get", aliases: []string{"groups show", "groups get", "group show"}, synopsis: "GROUP", summary: "Show a group's members and assignments.",
			args: [][2]string{argGroup}, examples: []string{"shoalctl group get debian-hosts"}, run: runGroupsShow},
		{name: "group update", aliases: []string{"groups update"}, synopsis: "GROUP [--name N] [--description D] [--window W|always] [--prolog-freq H] [--ocs-timings short|default|auto] [--cycle-latency S] [--frag-latency S] [--period-latency S]",
			summary:     "Change some fields of a group; the others keep their values.",
			description: "Change only the fields given (PATCH /groups/{id}): a new name, description, deployment window, PROLOG_FREQ or OCS download latencies of the group's members. An empty value or 0 clears a field.",
			args:        [][2]string{argGroup},
			examples:    []string{"shoalctl group update pilots --frag-latency 5", "shoalctl group update pilots --window 'mon-fri 22:00-06:00' --prolog-freq 2"},
			run:         runGroupsUpdate},
		{name: "group add", aliases: []string{"groups add"}, synopsis: "GROUP --computer ID...", summary: "Add computers to a static group.",
			args: [][2]string{argGroup}, examples: []string{"shoalctl group add pilots --computer 14"}, run: runGroupsMembers(false)},
		{name: "group remove", aliases: []string{"groups remove"}, synopsis: "GROUP --computer ID...", summary: "Remove computers from a static group.",
			args: [][2]string{argGroup}, examples: []string{"shoalctl group remove pilots --computer 14"}, run: runGroupsMembers(true)},
		{name: "group delete", aliases: []string{"groups delete"}, synopsis: "GROUP", summary: "Delete a group no assignment targets.",
			args: [][2]string{argGroup}, examples: []string{"shoalctl group delete pilots"}, run: runGroupsDelete},
		{name: "group window", aliases: []string{"groups window"}, synopsis: "GROUP WINDOW|always",
			summary:  "Set the deployment window of a group's assignments (\"mon-fri 22:00-06:00\"; always: the members' site windows).",
			args:     [][2]string{argGroup, {"WINDOW", "days and hours in the site's time zone, or always"}},
			examples: []string{"shoalctl group window pilots 'sat,sun 00:00-24:00'"}, run: runGroupsWindow},

		{name: "assignment create", aliases: []string{"assign"}, synopsis: "PKG (--group GROUP | --site SITE | " + searchFlags + ") [--after PKG] [--baseline] [--stage N | --stage-percent P] [--max-failures P] [--reboot]",
			summary:     "Assign a package to a group, a site (--site alone) or a search: computers that join later get it too.",
			description: "Desired state: every member of the target gets PKG, now and when it joins later. A staged rollout (--stage, --stage-percent) deploys in waves per site and pauses by itself when more than --max-failures percent fail.",
			args:        [][2]string{argPackage},
			examples:    []string{"shoalctl assignment create 20261205064500 --group debian-hosts", "shoalctl assign 20261205064500 --site paris --stage-percent 10 --max-failures 5"},
			run:         runAssign},
		{name: "assignment list", aliases: []string{"assignments"}, synopsis: "[--package PKG] [--watch] [--interval 2s]", summary: "List assignments with members, done, pending, failed, held.",
			examples: []string{"shoalctl assignment list", "shoalctl assignments --package 20261205064500"}, run: runAssignments},
		{name: "assignment resume", aliases: []string{"resume"}, synopsis: "ID", summary: "Resume a paused staged rollout (the failures so far are accepted).",
			args: [][2]string{argAssignment}, examples: []string{"shoalctl assignment resume 3"}, run: runResume},
		{name: "assignment delete", aliases: []string{"unassign"}, synopsis: "ID", summary: "Remove an assignment (installs stay, pending deployments are cancelled).",
			args: [][2]string{argAssignment}, examples: []string{"shoalctl assignment delete 3"}, run: runUnassign},

		{name: "relay list", aliases: []string{"relays", "relays list"}, synopsis: "[--watch] [--interval 2s]", summary: "List relays: site, URL, online, disk, bytes from upstream and served, hit ratio.",
			examples: []string{"shoalctl relay list", "shoalctl relay list -o wide"}, run: runRelaysList},
		{name: "relay token", aliases: []string{"relays token"}, synopsis: "--site SITE --name NAME [--expires 24h]",
			summary:  "Mint the single-use token that enrolls relay NAME for SITE, and print its shoal-relay enroll command.",
			examples: []string{"shoalctl relay token --site branch-12 --name relay-12"}, run: runRelaysToken},
		{name: "relay delete", aliases: []string{"relays delete"}, synopsis: "ID", summary: "Remove a relay (its site falls back to central).",
			args: [][2]string{{"ID", "a relay ID, the first column of 'shoalctl relay list'"}}, examples: []string{"shoalctl relay delete 2"}, run: runRelaysDelete},

		{name: "token list", aliases: []string{"tokens"}, summary: "List API tokens: role, created, expires, last used, revoked.",
			examples: []string{"shoalctl token list"}, run: runTokenList},
		{name: "token create", synopsis: "NAME [--role admin|readonly] [--expires-in 720h]", summary: "Mint an API token; the secret is printed once.",
			args: [][2]string{{"NAME", "what the token is for, shown in the audit log"}}, examples: []string{"shoalctl token create backup-script --role readonly --expires-in 720h"}, run: runTokenCreate},
		{name: "token delete", aliases: []string{"token revoke"}, synopsis: "ID", summary: "Revoke an API token.",
			args: [][2]string{{"ID", "a token ID, the first column of 'shoalctl token list'"}}, examples: []string{"shoalctl token delete 4"}, run: runTokenDelete},

		{name: "settings get", aliases: []string{"settings"}, summary: "Show the agent timings central sends in PROLOG answers.",
			examples: []string{"shoalctl settings get", "shoalctl settings get -o yaml"}, run: runSettingsGet},
		{name: "settings set", synopsis: "KEY=VALUE...", summary: "Change agent timings; the others keep their value.",
			description: "Set one or more agent timings. Keys are the names 'settings get -o json' prints: prolog_freq_hours, inventory_frequency_days, inventory_on_startup, download.disabled, download.cycle_latency, download.frag_latency, download.period_latency, download.period_length, download.timeout_days, download.execution_timeout_mins.",
			args:        [][2]string{{"KEY=VALUE", "a setting and its new value"}},
			examples:    []string{"shoalctl settings set prolog_freq_hours=12 download.frag_latency=5"}, run: runSettingsSet},

		{name: "software list", synopsis: "[TEXT] [--category C] [--csv]",
			summary:     "The software catalog: titles (names merged by the dictionary) with publisher, computers, last seen.",
			description: "List the fleet's software titles. A title merges the names agents report (\"Mozilla Firefox (x64 fr)\", \"Mozilla Firefox 131.0\") by an automatic title and the dictionary rules; TEXT filters titles by a substring. --csv writes the list as CSV.",
			args:        [][2]string{{"TEXT", "optional: a part of the title"}},
			examples:    []string{"shoalctl software list", "shoalctl software list firefox --category browser", "shoalctl software list --csv"}, run: runSoftwareList},
		{name: "software get", synopsis: "TITLE|KEY [--computers] [--version V] [--csv]",
			summary: "A title's versions with their computers per site; --computers (or --version, --csv) lists its computers.",
			args:    [][2]string{{"TITLE", "a title as 'software list' prints it, or its key"}},
			examples: []string{"shoalctl software get 'Mozilla Firefox'", "shoalctl software get 7-Zip --version 23.01 --computers",
				"shoalctl software get 7-Zip --csv"}, run: runSoftwareGet},
		{name: "software rule list", aliases: []string{"software rules"}, summary: "The dictionary rules that merge software names into titles and give categories.",
			examples: []string{"shoalctl software rule list"}, run: runSoftwareRules},
		{name: "software rule add", synopsis: "PATTERN [--title T] [--category C] [--position N]",
			summary:  "Add a dictionary rule: names matching PATTERN (a regular expression, any case) get the title and category.",
			args:     [][2]string{{"PATTERN", "a regular expression matched against software names, any case"}},
			examples: []string{"shoalctl software rule add '^mozilla firefox' --title 'Mozilla Firefox' --category browser"}, run: runSoftwareRuleAdd},
		{name: "software rule delete", synopsis: "ID", summary: "Delete a dictionary rule.",
			args: [][2]string{{"ID", "a rule ID, the first column of 'shoalctl software rule list'"}}, examples: []string{"shoalctl software rule delete 3"}, run: runSoftwareRuleDelete},

		{name: "audit list", aliases: []string{"audit"}, synopsis: "[--actor A] [--action A] [--target T] [--since 24h] [--before D] [--limit N]",
			summary:  "Show the audit log, newest first.",
			examples: []string{"shoalctl audit list --since 24h", "shoalctl audit --action package. --limit 20"}, run: runAuditList},
	}
}
