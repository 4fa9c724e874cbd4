# golemctl(1) completion for fish
# SPDX-License-Identifier: MIT

# The words of the command line before the cursor that are not options (nor their
# values): "vm" "ssh-key" "add" ... — which command is being completed.
function __golemctl_args
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $w
            case -- --
                return
            case --json --discovery-url --size --cpu --memory --storage --country --provider \
                 --image --ssh-key --user --limit --name --host -H
                set skip 1
            case '-*'
            case '*'
                echo $w
        end
    end
end

# __golemctl_at WORD...: the command so far is exactly these words.
function __golemctl_at
    set -l args (__golemctl_args)
    test "$args" = "$argv"
end

# __golemctl_in WORD...: the command so far starts with these words (arguments follow).
function __golemctl_in
    set -l args (__golemctl_args)
    test (count $args) -ge (count $argv); or return 1
    for i in (seq (count $argv))
        test "$args[$i]" = "$argv[$i]"; or return 1
    end
end

function __golemctl_nargs
    count (__golemctl_args)
end

# The local records only: completion must not wait for providers.
function __golemctl_vms
    golemctl --no-legend --no-pager vm list --local 2>/dev/null | string replace -r '\s.*' ''
end

function __golemctl_providers
    golemctl --no-legend --no-pager providers 2>/dev/null | string replace -r '\s.*' ''
end

function __golemctl_provider_vms
    golemctl --no-legend --no-pager --no-ask-password provider vms 2>/dev/null | string replace -r '\s.*' ''
end

function __golemctl_vm_keys
    set -l args (__golemctl_args)
    golemctl --no-legend --no-pager vm ssh-key list $args[4] 2>/dev/null | string replace -r '\s.*' ''
end

complete -c golemctl -f

# Options of every command.
complete -c golemctl -s h -l help -d 'Show the help, or a command\'s'
complete -c golemctl -l version -d 'Show the version'
complete -c golemctl -l json -x -a 'pretty short off' -d 'Print data as JSON'
complete -c golemctl -s j -d 'JSON: pretty on a terminal, short otherwise'
complete -c golemctl -l no-legend -d 'Print tables without header and legend'
complete -c golemctl -l no-pager -d 'Never pipe output into a pager'
complete -c golemctl -s q -l quiet -d 'Print no notes and no progress'
complete -c golemctl -l discovery-url -x -d 'The discovery service'

# Commands: __golemctl_commands WORDS -- NAME DESCRIPTION ... offers the commands after WORDS.
function __golemctl_commands
    set -l i (contains -i -- -- $argv)
    set -l at
    test $i -gt 1; and set at $argv[1..(math $i - 1)]
    for j in (seq (math $i + 1) 2 (count $argv))
        complete -c golemctl -n "__golemctl_at $at" -a $argv[$j] -d $argv[(math $j + 1)]
    end
end

__golemctl_commands -- \
    providers 'List the providers advertising free resources' \
    id 'Show the identity golemctl signs requests with' \
    vm 'Create, list and manage VMs' \
    provider 'Manage the provider on this machine (over D-Bus)'
__golemctl_commands vm -- \
    create 'Create a VM on the best-fitting provider' \
    list 'List your VMs with their live state' \
    status 'Show a VM\'s state, resources and SSH access' \
    start 'Start a stopped VM' \
    stop 'Stop a running VM' \
    destroy 'Delete a VM and forget it' \
    ssh 'Log in to a VM, or run a command there' \
    ssh-key 'Add, list and remove a VM\'s SSH keys'
__golemctl_commands vm ssh-key -- \
    add 'Let another SSH key log in to a VM' \
    list 'List the SSH keys of a VM' \
    remove 'Stop an SSH key from logging in to a VM'
__golemctl_commands provider -- \
    status 'Show the provider\'s identity and free resources' \
    vms 'List every VM of this provider' \
    advertise 'Turn advertising on or off' \
    vm 'Start, stop or delete one of the provider\'s VMs'
__golemctl_commands provider vm -- \
    start 'Start a VM of this provider' \
    stop 'Stop a VM of this provider' \
    delete 'Delete a VM of this provider'

# Arguments.
complete -c golemctl -n '__golemctl_at provider advertise' -a 'on off'
for v in status start stop destroy ssh
    complete -c golemctl -n "__golemctl_at vm $v" -a '(__golemctl_vms)'
end
for v in add list remove
    complete -c golemctl -n "__golemctl_at vm ssh-key $v" -a '(__golemctl_vms)'
end
complete -c golemctl -n '__golemctl_in vm ssh-key add; and test (__golemctl_nargs) -eq 4' -F
complete -c golemctl -n '__golemctl_in vm ssh-key remove; and test (__golemctl_nargs) -eq 4' -a '(__golemctl_vm_keys)'
for v in start stop delete
    complete -c golemctl -n "__golemctl_at provider vm $v" -a '(__golemctl_provider_vms)'
end

# Options of one command.
complete -c golemctl -n '__golemctl_at providers; or __golemctl_in vm create' -l cpu -x -d 'CPU cores'
complete -c golemctl -n '__golemctl_at providers; or __golemctl_in vm create' -l memory -x -d 'Memory in GB'
complete -c golemctl -n '__golemctl_at providers; or __golemctl_in vm create' -l storage -x -d 'Storage in GB'
complete -c golemctl -n '__golemctl_at providers; or __golemctl_in vm create' -l country -x -d 'Only providers in this country'
complete -c golemctl -n '__golemctl_at providers; or __golemctl_in vm create' -l unverified -d 'Also providers whose advertisement is not signed'
complete -c golemctl -n '__golemctl_at providers' -l limit -x -d 'Ask for the first N providers only'
complete -c golemctl -n '__golemctl_in vm create' -l size -x -a 'small medium large xlarge' -d 'The VM\'s size'
complete -c golemctl -n '__golemctl_in vm create' -l provider -x -a '(__golemctl_providers)' -d 'This provider, not the best fit'
complete -c golemctl -n '__golemctl_in vm create' -l image -x -d 'The image to run'
complete -c golemctl -n '__golemctl_in vm create; or __golemctl_in vm ssh' -l ssh-key -r -F -d 'The private key to log in with'
complete -c golemctl -n '__golemctl_in vm create' -l no-wait -d 'Return once the provider has accepted the request'
complete -c golemctl -n '__golemctl_at vm list' -l local -d 'Only what is recorded here'
complete -c golemctl -n '__golemctl_in vm destroy' -l force -d 'Forget the VM even when its provider cannot delete it'
complete -c golemctl -n '__golemctl_in vm ssh' -l user -x -d 'Log in as USER'
complete -c golemctl -n '__golemctl_in vm ssh-key add' -l name -x -d 'The key\'s name on the VM'
complete -c golemctl -n '__golemctl_at; or __golemctl_in provider' -s H -l host -x -a '(__fish_print_hostnames)' -d 'The provider on HOST (over ssh)'
complete -c golemctl -n '__golemctl_at; or __golemctl_in provider' -l no-ask-password -d 'Never ask for a password'
