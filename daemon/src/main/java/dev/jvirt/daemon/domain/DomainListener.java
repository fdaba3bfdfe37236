package dev.jvirt.daemon.domain;

/** Told of every domain lifecycle change, as libvirt's virDomainEventType with its detail. */
@FunctionalInterface
public interface DomainListener {

    int DEFINED = 0;
    int UNDEFINED = 1;
    int STARTED = 2;
    int SUSPENDED = 3;
    int RESUMED = 4;
    int STOPPED = 5;

    /** Called with the domain's lock held: implementations must not block. */
    void lifecycle(Domain domain, int event, int detail);
}
