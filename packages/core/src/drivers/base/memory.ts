/**
 * The memory block devices in sysfs.
 *
 * Models `drivers/base/memory.c`: `/sys/devices/system/memory/block_size_bytes` and one
 * `memory<N>` directory per memory block with `state`, `online`, `phys_index`, `phys_device`,
 * `removable` and `valid_zones`. A block is one memory section: `memory_block_size_bytes()` is
 * `MIN_MEMORY_BLOCK_SIZE`, the section size, which is also what x86-64's
 * `probe_memory_block_size()` picks for a machine with less than 64 GiB of boot memory
 * (`arch/x86/mm/init_64.c`). Writing `offline` runs `offline_pages()`, writing an online type
 * `online_pages()` (`mm/memory_hotplug.ts`), one at a time under `device_hotplug_lock`.
 *
 * @module
 */
import { Effect, Semaphore } from "effect";
import { type ErrnoError, errno } from "../../errno";
import type { Kernel } from "../../include/kernel";
import type { Attribute } from "../../include/kernfs";
import {
  MEM_GOING_OFFLINE,
  MEM_OFFLINE,
  MEM_ONLINE,
  type MemoryBlock,
  MMOP_OFFLINE,
  MMOP_ONLINE,
  ONLINE_TYPE_TO_STR,
} from "../../include/memory";
import type { TaskStruct } from "../../include/sched";
import { kstrtobool, sysfsStreq } from "../../lib/kstrtox";
import { offlinePages, onlinePages } from "../../mm/memory_hotplug";

/**
 * `/sys/devices/system/memory`: the directory of the memory subsystem (`memory_subsys`,
 * `memory_dev_init()`, `drivers/base/memory.c`), where every memory block and
 * `block_size_bytes` live.
 *
 * @category Memory hotplug
 */
export const MEMORY_SYSFS_ROOT = "/sys/devices/system/memory";

/**
 * `memory_block_change_state()` (`drivers/base/memory.c`): `EINVAL` unless the block is in
 * `from`; an offline passes through `MEM_GOING_OFFLINE`; the block ends in `to`, or back in
 * `from` when `memory_block_action()` failed.
 */
const memoryBlockChangeState = (
  k: Kernel,
  mem: MemoryBlock,
  to: number,
  from: number,
  current: TaskStruct | null = null,
): Effect.Effect<void, ErrnoError> =>
  Effect.suspend(() => {
    if (mem.state !== from)
      return Effect.fail(errno("EINVAL", `memory${mem.id} is not in the state the change needs`));
    if (to === MEM_OFFLINE) mem.state = MEM_GOING_OFFLINE;
    const action =
      to === MEM_ONLINE
        ? onlinePages(k, mem.startPfn, mem.nrPages)
        : offlinePages(k, mem.startPfn, mem.nrPages, current);
    return action.pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          mem.state = exit._tag === "Success" ? to : from;
        }),
      ),
      Effect.asVoid,
    );
  });

/**
 * `device_online()` with `memory_subsys_online()`: 1 when the block is online already, 0 once
 * onlined. A block with no online type asked for is onlined as `online` (`MMOP_ONLINE`).
 */
const deviceOnline = (k: Kernel, mem: MemoryBlock): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() => {
    if (mem.state !== MEM_OFFLINE) return Effect.succeed(1);
    if (mem.onlineType === MMOP_OFFLINE) mem.onlineType = MMOP_ONLINE;
    return memoryBlockChangeState(k, mem, MEM_ONLINE, MEM_OFFLINE).pipe(
      Effect.ensuring(Effect.sync(() => (mem.onlineType = MMOP_OFFLINE))),
      Effect.as(0),
    );
  });

/**
 * `device_offline()` with `memory_subsys_offline()`: 1 when the block is offline already. Runs in
 * `current`, the writer of the block's `state` or `online` file.
 */
const deviceOffline = (
  k: Kernel,
  mem: MemoryBlock,
  current: TaskStruct | null,
): Effect.Effect<number, ErrnoError> =>
  Effect.suspend(() =>
    mem.state === MEM_OFFLINE
      ? Effect.succeed(1)
      : Effect.as(memoryBlockChangeState(k, mem, MEM_OFFLINE, MEM_ONLINE, current), 0),
  );

/** `state_show()`: the names `drivers/base/memory.c` prints. */
const stateName = (state: number): string =>
  state === MEM_ONLINE
    ? "online"
    : state === MEM_OFFLINE
      ? "offline"
      : state === MEM_GOING_OFFLINE
        ? "going-offline"
        : `ERROR-UNKNOWN-${state}`;

/**
 * The memory blocks of a machine, one per present section, in section order
 * (`create_memory_block_devices()` for the boot memory, `memory_dev_init()`), every one online.
 *
 * @category Memory hotplug
 */
export const createMemoryBlocks = (k: Pick<Kernel, "mem">): MemoryBlock[] => {
  const mem = k.mem;
  const blocks: MemoryBlock[] = [];
  mem.sections.forEach((buffer, nr) => {
    if (!buffer) return;
    blocks.push({
      id: nr,
      startSectionNr: nr,
      startPfn: nr * mem.pagesPerSection,
      nrPages: mem.pagesPerSection,
      nid: mem.sectionNid[nr]!,
      state: MEM_ONLINE,
      onlineType: MMOP_OFFLINE,
    });
  });
  return blocks;
};

/**
 * `memory_dev_init()` (`drivers/base/memory.c`): registers `block_size_bytes` and one
 * `memory<N>` device per block of `k.memoryBlocks`. Other files of the directory (such as
 * `soft_offline_page`) are added beside them with `addAttributes`.
 *
 * @category Memory hotplug
 */
export const memoryDevInit = (k: Kernel): void => {
  const hotplugLock = Semaphore.makeUnsafe(1);
  const locked = (effect: Effect.Effect<number, ErrnoError>) => hotplugLock.withPermit(effect);
  const blockSize = k.mem.pagesPerSection * k.mem.pageSize;
  k.fs.addAttributes(MEMORY_SYSFS_ROOT, {
    block_size_bytes: { mode: 0o444, show: () => `${blockSize.toString(16)}\n` },
  });
  const ro = (show: () => string): Attribute => ({ mode: 0o444, show });
  for (const mem of k.memoryBlocks) {
    k.fs.addAttributes(`${MEMORY_SYSFS_ROOT}/memory${mem.id}`, {
      // state_show() / state_store(): an online type or "offline"; already there is EINVAL.
      state: {
        mode: 0o644,
        show: () => `${stateName(mem.state)}\n`,
        store: (text, count, current) => {
          const type = ONLINE_TYPE_TO_STR.findIndex((word) => sysfsStreq(text, word));
          if (type < 0)
            return Effect.fail(
              errno("EINVAL", `memory${mem.id}/state: ${JSON.stringify(text)} is no online type`),
            );
          const change = Effect.suspend(() => {
            if (type === MMOP_OFFLINE) return deviceOffline(k, mem, current);
            mem.onlineType = type;
            return deviceOnline(k, mem);
          });
          return locked(change).pipe(
            Effect.flatMap((ret) =>
              ret > 0
                ? Effect.fail(errno("EINVAL", `memory${mem.id} is already ${stateName(mem.state)}`))
                : Effect.succeed(count),
            ),
          );
        },
      },
      // online_show() / online_store() (drivers/base/core.c): 0 or 1; already there is fine.
      online: {
        mode: 0o644,
        show: () => `${mem.state === MEM_OFFLINE ? 0 : 1}\n`,
        store: (text, count, current) => {
          const val = kstrtobool(text);
          if (typeof val !== "boolean") return Effect.fail(val);
          return Effect.as(
            locked(val ? deviceOnline(k, mem) : deviceOffline(k, mem, current)),
            count,
          );
        },
      },
      phys_index: ro(() => `${mem.id.toString(16).padStart(8, "0")}\n`),
      phys_device: ro(() => "0\n"),
      removable: ro(() => "1\n"),
      // valid_zones_show(): the block's zone when online, the zones it may go to when offline;
      // one zone per node in the model, so both are Normal.
      valid_zones: ro(() => "Normal\n"),
    });
  }
};
