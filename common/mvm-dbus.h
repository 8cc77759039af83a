/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Names of the D-Bus API, shared by microvmd and microvm-client. */

#define MVM_BUS_NAME             "org.microvm.Manager"
#define MVM_MANAGER_PATH         "/org/microvm/Manager"
#define MVM_MANAGER_INTERFACE    "org.microvm.Manager"
#define MVM_VM_PATH_PREFIX       "/org/microvm/Manager/vm"
#define MVM_VM_INTERFACE         "org.microvm.Manager.VM"

#define MVM_ERROR_INVALID_NAME     "org.microvm.Error.InvalidName"
#define MVM_ERROR_INVALID_ARGUMENT "org.microvm.Error.InvalidArgument"
#define MVM_ERROR_NO_SUCH_VM       "org.microvm.Error.NoSuchVM"
#define MVM_ERROR_ALREADY_EXISTS   "org.microvm.Error.AlreadyExists"
#define MVM_ERROR_BUSY             "org.microvm.Error.Busy"
#define MVM_ERROR_NOT_AUTHORIZED   "org.microvm.Error.NotAuthorized"
#define MVM_ERROR_FAILED           "org.microvm.Error.Failed"
#define MVM_ERROR_ALREADY_RUNNING  "org.microvm.Error.AlreadyRunning"
#define MVM_ERROR_NOT_RUNNING      "org.microvm.Error.NotRunning"
#define MVM_ERROR_HYPERVISOR_NOT_FOUND "org.microvm.Error.HypervisorNotFound"
#define MVM_ERROR_KERNEL_NOT_FOUND "org.microvm.Error.KernelNotFound"
#define MVM_ERROR_NO_KVM           "org.microvm.Error.NoKVM"
#define MVM_ERROR_UNIT_FAILED      "org.microvm.Error.UnitFailed"
#define MVM_ERROR_TIMEOUT          "org.microvm.Error.Timeout"
#define MVM_ERROR_ADDRESS_IN_USE   "org.microvm.Error.AddressInUse"
#define MVM_ERROR_NO_ADDRESS       "org.microvm.Error.NoAddressAvailable"
#define MVM_ERROR_LIMIT_EXCEEDED   "org.microvm.Error.LimitExceeded"
#define MVM_ERROR_NOT_SUPPORTED    "org.microvm.Error.NotSupported"
#define MVM_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED \
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

/* CreateWorkspace / DeleteWorkspace option keys. */
#define MVM_OPTION_VCPUS           "vcpus"
#define MVM_OPTION_MEMORY_MIB      "memory-mib"
#define MVM_OPTION_AUTHORIZED_KEYS "authorized-keys"
#define MVM_OPTION_REMOVE_FILES    "remove-files"
#define MVM_OPTION_HYPERVISOR      "hypervisor"
#define MVM_OPTION_KERNEL          "kernel"
#define MVM_OPTION_INITRAMFS       "initramfs"
#define MVM_OPTION_KERNEL_CMDLINE  "kernel-cmdline"
#define MVM_OPTION_WAIT            "wait"
#define MVM_OPTION_FORCE           "force"
#define MVM_OPTION_IP_ADDRESS      "ip-address"
#define MVM_OPTION_VOLUME_GIB      "volume-gib"
#define MVM_OPTION_EGRESS          "egress"
#define MVM_OPTION_CREDENTIALS_DIRECTORY "credentials-directory"
#define MVM_OPTION_FOLLOW          "follow"
#define MVM_OPTION_LINES           "lines"

/* polkit actions. */
#define MVM_ACTION_CREATE     "org.microvm.manager.create"
#define MVM_ACTION_DELETE     "org.microvm.manager.delete"
#define MVM_ACTION_START      "org.microvm.manager.start"
#define MVM_ACTION_STOP       "org.microvm.manager.stop"
#define MVM_ACTION_LOGS       "org.microvm.manager.logs"
#define MVM_ACTION_CONSOLE    "org.microvm.manager.console"
#define MVM_ACTION_MANAGE_ANY "org.microvm.manager.manage-any"
#define MVM_ACTION_CUSTOM_BOOT "org.microvm.manager.custom-boot"
