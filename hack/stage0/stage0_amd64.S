# stage0: the first program a container's first process executes, in the new
# user namespace before its ids are mapped. It waits for rless's "uid mapped"
# message on descriptor 3 and then executes the rless binary open on
# descriptor 4 with the same arguments and environment, so that rless starts
# mapped (holding its capabilities) without paying for a Go runtime start
# while it waits. Linux, x86-64. Build: hack/stage0/gen.sh.
	.globl _start
	.text
_start:
	# read(3, buf, 1): a message on the SOCK_SEQPACKET socket (the rest of
	# the datagram is discarded); 0 means rless is gone.
	xor	%eax, %eax		# SYS_read
	mov	$3, %edi
	lea	-16(%rsp), %rsi
	mov	$1, %edx
	syscall
	cmp	$1, %rax
	jl	fail
	# execveat(4, "", argv, envp, AT_EMPTY_PATH)
	mov	(%rsp), %rcx		# argc
	lea	8(%rsp), %rdx		# argv
	lea	8(%rdx,%rcx,8), %r10	# envp, after argv's NULL
	lea	empty(%rip), %rsi
	mov	$4, %edi
	mov	$0x1000, %r8d		# AT_EMPTY_PATH
	mov	$322, %eax		# SYS_execveat
	syscall
fail:
	mov	$127, %edi
	mov	$231, %eax		# SYS_exit_group
	syscall
empty:
	.byte	0
