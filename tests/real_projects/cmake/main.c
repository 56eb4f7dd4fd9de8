/* main.c - a contended lock whose holder is hold_table(). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        pthread_mutex_lock(&table_lock);
        pthread_mutex_unlock(&table_lock);
        usleep(100);
    }
    return NULL;
}

__attribute__((noinline)) static void hold_table(void)
{
    pthread_mutex_lock(&table_lock);
    usleep(2000);
    pthread_mutex_unlock(&table_lock);
}

int main(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < 20; i++)
        hold_table();
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    puts("done");
    return 0;
}
