package dev.jvirt.vmm.qmp;

import com.fasterxml.jackson.databind.JsonNode;

/** One QMP command: takes the "arguments" object (empty if absent), returns the "return" value. */
@FunctionalInterface
public interface QmpCommand {

    Object execute(JsonNode arguments) throws QmpError, InterruptedException;
}
