import {
  ChangeDetectionStrategy,
  Component,
  DestroyRef,
  computed,
  inject,
  input,
  linkedSignal,
  signal,
} from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';

import { fromField, initialField, validateCommand } from './command-validation';
import type { CommandParameter, CommandTemplate } from './hub-api';
import { HubError, TelemetryService, isConfirmation } from './telemetry.service';

/** The last command sent from the form and how far it got. */
interface Sent {
  id: number;
  command: string;
  commandId: string | null;
  steps: string[];
  outcome: 'pending' | 'completed' | 'failed' | 'timeout' | 'refused';
  message: string;
}

/** A form for any command template: one field per parameter, checked as the hub checks them. */
@Component({
  selector: 'app-command-form',
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './command-form.html',
})
export class CommandForm {
  readonly templates = input.required<readonly CommandTemplate[]>();

  private readonly telemetry = inject(TelemetryService);
  private readonly destroyRef = inject(DestroyRef);

  protected readonly commandName = linkedSignal(() => this.templates()[0]?.command ?? '');
  protected readonly template = computed(() =>
    this.templates().find((template) => template.command === this.commandName()),
  );
  /** The text of each field; back to the defaults whenever another command is chosen. */
  protected readonly fields = linkedSignal<Record<string, string>>(() =>
    Object.fromEntries((this.template()?.parameters ?? []).map((p) => [p.name, initialField(p)])),
  );
  /** Whether to show every problem (after a send was tried), not only those of fields filled in. */
  protected readonly tried = linkedSignal({ source: this.template, computation: () => false });
  /** Reasons the hub gave (invalid_parameters details), until the field changes. */
  protected readonly hubProblems = linkedSignal<CommandTemplate | undefined, Record<string, string>>({
    source: this.template,
    computation: () => ({}),
  });
  protected readonly sent = signal<Sent | null>(null);

  protected readonly checked = computed(() => {
    const template = this.template();
    if (!template) {
      return null;
    }
    const given: Record<string, unknown> = {};
    for (const parameter of template.parameters) {
      const value = fromField(parameter, this.fields()[parameter.name] ?? '');
      if (value !== undefined) {
        given[parameter.name] = value;
      }
    }
    return validateCommand(template, given);
  });
  protected readonly valid = computed(() => Object.keys(this.checked()?.problems ?? {}).length === 0);

  protected problem(parameter: CommandParameter): string | null {
    const shown = this.tried() || (this.fields()[parameter.name] ?? '') !== '';
    return (shown ? this.checked()?.problems[parameter.name] : null) ?? this.hubProblems()[parameter.name] ?? null;
  }

  protected hint(parameter: CommandParameter): string {
    const parts: string[] = [parameter.type];
    if (parameter.min != null || parameter.max != null) {
      parts.push(`${parameter.min ?? '…'} to ${parameter.max ?? '…'}`);
    }
    if (parameter.default != null) {
      parts.push(`default ${parameter.default}`);
    }
    if (parameter.required) {
      parts.push('required');
    }
    return parts.join(', ');
  }

  protected setField(name: string, text: string): void {
    this.fields.update((fields) => ({ ...fields, [name]: text }));
    this.hubProblems.update(({ [name]: _, ...others }) => others);
  }

  protected send(event: Event): void {
    event.preventDefault();
    this.tried.set(true);
    const template = this.template();
    const checked = this.checked();
    if (!template || !checked || !this.valid()) {
      return;
    }
    const id = (this.sent()?.id ?? 0) + 1;
    this.sent.set({ id, command: template.command, commandId: null, steps: [], outcome: 'pending', message: '' });
    // the form follows the last command sent; an earlier one still running updates nothing here
    const update = (change: (sent: Sent) => Partial<Sent>): void =>
      this.sent.update((sent) => (sent?.id === id ? { ...sent, ...change(sent) } : sent));
    this.telemetry
      .command(template.command, checked.parameters)
      .pipe(takeUntilDestroyed(this.destroyRef))
      .subscribe({
        next: (step) => {
          if (isConfirmation(step)) {
            const outcome = step.status === 'accepted' || step.status === 'executing' ? 'pending' : step.status;
            update((sent) => ({ steps: [...sent.steps, step.status], outcome, message: step.message }));
          } else {
            update(() => ({ commandId: step.command_id }));
          }
        },
        error: (error: unknown) => {
          const hubError = error instanceof HubError ? error : null;
          if (hubError?.code === 'invalid_parameters' && isReasons(hubError.details)) {
            this.hubProblems.set(hubError.details);
          }
          const message = `${hubError?.code ?? 'error'}: ${(error as Error).message}`;
          update(() => ({ outcome: 'refused', message }));
        },
      });
  }
}

function isReasons(details: unknown): details is Record<string, string> {
  return typeof details === 'object' && details !== null && Object.values(details).every((v) => typeof v === 'string');
}
