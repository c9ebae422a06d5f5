# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# bash completion for vmcrypt(1): verbs, subverbs, each verb's options, files, IMAGE@N.
#
# Verbs and options are read from the vmcrypt being completed, at completion time:
# "vmcrypt help" lists the verbs (two-word rows such as "header backup" give the
# subverbs) and "vmcrypt VERB --help" the options, so the completion follows the
# binary as verbs change. Each answer is kept for the rest of the shell session.

# "CMD" -> verb rows "VERB[ SUB]"; "CMD VERB[ SUB]" -> option rows "NAME[ ARG]".
declare -gA _vmcrypt_cache

# _vmcrypt_verb_rows CMD: sets rows (the caller's) to one "VERB" or "VERB SUBVERB" line
# per row of "vmcrypt help". Not through $(...): the cache would stay in the subshell.
_vmcrypt_verb_rows()
{
	local key="$1" line re='^  ([a-z][a-z0-9-]*)( ([a-z][a-z0-9-]*))?( |$)'
	local in=0
	rows=""
	if [[ ! -v "_vmcrypt_cache[$key]" ]]; then
		while IFS= read -r line; do
			if [[ $line == Verbs:* ]]; then
				in=1
			elif [[ -z $line ]]; then
				in=0
			elif ((in)) && [[ $line =~ $re ]]; then
				rows+="${BASH_REMATCH[1]}${BASH_REMATCH[3]:+ ${BASH_REMATCH[3]}}"$'\n'
			fi
		done < <("$1" help 2>/dev/null)
		_vmcrypt_cache[$key]=$rows
	fi
	rows=${_vmcrypt_cache[$key]}
}

# _vmcrypt_option_rows CMD VERB [SUB]: sets rows (the caller's) to "--long ARG" and
# "-s ARG" lines (ARG empty for flags), one per option name in the Options: section of
# "vmcrypt VERB [SUB] --help".
_vmcrypt_option_rows()
{
	local key="$*" line
	rows=""
	local re='^ +(-([[:alnum:]]), )?--([a-z0-9][a-z0-9-]*)( ([A-Z][A-Z_]*))?'
	if [[ ! -v "_vmcrypt_cache[$key]" ]]; then
		while IFS= read -r line; do
			[[ $line =~ $re ]] || continue
			rows+="--${BASH_REMATCH[3]} ${BASH_REMATCH[5]}"$'\n'
			[[ -n ${BASH_REMATCH[2]} ]] && rows+="-${BASH_REMATCH[2]} ${BASH_REMATCH[5]}"$'\n'
		done < <("$@" --help 2>/dev/null)
		_vmcrypt_cache[$key]=$rows
	fi
	rows=${_vmcrypt_cache[$key]}
}

# _vmcrypt_partitions IMAGE: the partition numbers of a GPT/MBR disk image.
_vmcrypt_partitions()
{
	local line
	[[ -f $1 || -b $1 ]] || return 0
	if command -v partx >/dev/null 2>&1; then
		partx -g -o NR -- "$1" 2>/dev/null | tr -d ' '
	elif command -v sfdisk >/dev/null 2>&1; then
		# "node": "disk.img3" (or "disk0p3"): the number ends the node name.
		sfdisk -J -- "$1" 2>/dev/null | while IFS= read -r line; do
			[[ $line =~ \"node\":\ *\"[^\"]*[^0-9]([0-9]+)\" ]] && echo "${BASH_REMATCH[1]}"
		done
	fi
}

# _vmcrypt_files [-d]: file (or directory) names for the current word.
_vmcrypt_files()
{
	compopt -o filenames 2>/dev/null
	if [[ ${1:-} == -d ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

# _vmcrypt_values ARG: the value of an option whose argument is named ARG in the help.
_vmcrypt_values()
{
	local words=""
	case $1 in
	FILE | IMAGE | PATH) _vmcrypt_files; return ;;
	DIR) _vmcrypt_files -d; return ;;
	TYPE) words="luks1 luks2" ;;
	PBKDF) words="pbkdf2 argon2i argon2id" ;;
	HASH) words="sha1 sha256 sha512" ;;
	PRIO) words="prefer normal ignore" ;;
	MODE) words="checksum journal none" ;;
	FMT) words="raw qcow2 vmdk vdi vhdx vpc qed" ;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

_vmcrypt()
{
	local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmd="${COMP_WORDS[0]}"
	local verb="" sub="" subs="" rows name arg i
	COMPREPLY=()
	cmd=${cmd/#\~/$HOME}
	command -v -- "$cmd" >/dev/null 2>&1 || cmd=vmcrypt
	command -v -- "$cmd" >/dev/null 2>&1 || return 0
	((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
	# "--opt=value": bash splits it at '=' into "--opt" "=" "value".
	if [[ $cur == = ]]; then
		cur=""
	elif [[ $prev == = ]] && ((COMP_CWORD > 2)); then
		prev="${COMP_WORDS[COMP_CWORD - 2]}"
	fi

	_vmcrypt_verb_rows "$cmd"
	if ((COMP_CWORD == 1)); then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(cut -d' ' -f1 <<<"$rows" | sort -u)" -- "$cur")
		fi
		return 0
	fi
	verb="${COMP_WORDS[1]}"
	while read -r name arg; do
		[[ $name == "$verb" && -n $arg ]] && subs+="$arg "
	done <<<"$rows"
	if [[ $verb == help ]]; then
		if ((COMP_CWORD == 2)); then
			mapfile -t COMPREPLY < <(compgen -W "$(cut -d' ' -f1 <<<"$rows" | sort -u)" -- "$cur")
		elif ((COMP_CWORD == 3)); then
			while read -r name arg; do
				[[ $name == "${COMP_WORDS[2]}" && -n $arg ]] && subs+="$arg "
			done <<<"$rows"
			mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
		fi
		return 0
	fi
	if [[ -n $subs ]]; then
		if ((COMP_CWORD == 2)); then
			mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
			return 0
		fi
		sub="${COMP_WORDS[2]}"
	fi

	_vmcrypt_option_rows "$cmd" "$verb" ${sub:+"$sub"}
	# The word after an option that takes an argument is that argument.
	if [[ $prev == -* ]]; then
		while read -r name arg; do
			if [[ $name == "$prev" && -n $arg ]]; then
				_vmcrypt_values "$arg"
				return 0
			fi
		done <<<"$rows"
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(grep -o -- '^--[^ ]*' <<<"$rows")" -- "$cur")
		return 0
	fi
	# IMAGE@N: partition N of a whole-disk image.
	if [[ $cur == *@* ]]; then
		i="${cur%@*}"
		mapfile -t COMPREPLY < <(compgen -P "$i@" -W "$(_vmcrypt_partitions "${i/#\~/$HOME}")" \
			-- "${cur##*@}")
		return 0
	fi
	_vmcrypt_files
	return 0
}
complete -F _vmcrypt vmcrypt
