/* answer.S - an assembler file gets CFLAGS too: the forced include must
 * be empty under __ASSEMBLER__. Assembled by headers.sh, and by the
 * autotools project (autotools.sh copies it in). */
    .text
    .globl rp_answer
    .type rp_answer, @function
rp_answer:
    movl $42, %eax
    ret
    .size rp_answer, .-rp_answer
    .section .note.GNU-stack,"",@progbits
