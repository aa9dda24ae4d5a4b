import { describe, expect, it } from '@jest/globals';
import { CommandError } from '../../../../../../src/satellite/exec/command-runner.js';
import { FakeCommandRunner } from '../../../../../fakes/fake-command-runner.js';

/** The provider tests are only as strict as this fake, so its failure modes are tested here. */
describe('FakeCommandRunner', () => {
  it('answers scripted commands in order and records every spec', async () => {
    let ran = false;
    const runner = new FakeCommandRunner([{ argv: ['a', '1'], stdout: 'one' }]).expect(['b'], { stderr: 'two', effect: () => void (ran = true) });
    expect((await runner.run({ argv: ['a', '1'], purpose: 'first' })).stdout).toBe('one');
    expect((await runner.run({ argv: ['b'] })).stderr).toBe('two');
    expect(ran).toBe(true);
    expect(runner.commands).toEqual([['a', '1'], ['b']]);
    expect(runner.specs[0]!.purpose).toBe('first');
    runner.assertDone();
  });

  it('rejects an unexpected command where it happens, and again in assertDone even if the rejection was swallowed', async () => {
    const runner = new FakeCommandRunner().expect(['losetup', '--detach', '/dev/loop1']);
    await expect(runner.run({ argv: ['losetup', '--detach', '/dev/loop2'] })).rejects.toThrow(
      'FakeCommandRunner: unexpected command `losetup --detach /dev/loop2`; the script expects `losetup --detach /dev/loop1` next',
    );
    await runner.run({ argv: ['losetup', '--detach', '/dev/loop1'] });
    await runner.run({ argv: ['rm', '-rf', '/'] }).catch(() => undefined);
    expect(() => runner.assertDone()).toThrow(/unexpected command `losetup --detach \/dev\/loop2`[\s\S]*`rm -rf \/`; the script is used up/);
  });

  it('fails assertDone when a scripted command never ran', async () => {
    const runner = new FakeCommandRunner().expect(['a']).expect(['b', 'x y']);
    await runner.run({ argv: ['a'] });
    expect(() => runner.assertDone()).toThrow("1 scripted command(s) never ran: `b 'x y'`");
  });

  it('rejects with a CommandError for an exit code the spec does not allow, like the real runner', async () => {
    const runner = new FakeCommandRunner().expect(['false'], { exitCode: 1, stderr: 'boom\n' }).expect(['grep'], { exitCode: 1 });
    const error = await runner.run({ argv: ['false'], purpose: 'fail' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).message).toBe('fail: `false` exited with 1: boom');
    expect((await runner.run({ argv: ['grep'], allowedExitCodes: [0, 1] })).exitCode).toBe(1);
    runner.assertDone();
  });
});
