/**
 * kafkajs's log lines, handed to a pino-compatible logger (`logger.warn(object, message)`), or
 * to nowhere: with no logger configured, kafkajs is told to log NOTHING, so that its default
 * console logger never writes JSON lines into a node's stdout next to pino's.
 *
 * One line is demoted on purpose: kafkajs warns "Limiting retries for the idempotent producer
 * may invalidate EoS guarantees" whenever an idempotent producer has bounded retries. LogKafka
 * bounds them (an append must answer) and replaces the producer after any failed send, which
 * is what keeps the guarantee (see log-kafka.ts), so the warning would only cry wolf.
 */
import { logLevel, type logCreator } from "kafkajs";

/** The part of pino's Logger that LogKafka uses. */
export type KafkaLogSink = {
  error(object: object, message: string): void;
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
  debug(object: object, message: string): void;
};

export type KafkaLogLevel = "error" | "warn" | "info" | "debug";

const LEVEL_OF: Record<KafkaLogLevel, logLevel> = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

const DEMOTED_MESSAGES = new Set(["Limiting retries for the idempotent producer may invalidate EoS guarantees"]);

/** The kafkajs `logLevel` and `logCreator` for a client: silent without a sink. */
export function kafkaLogging(sink: KafkaLogSink | undefined, level: KafkaLogLevel): { logLevel: logLevel; logCreator: logCreator } {
  if (sink === undefined) return { logLevel: logLevel.NOTHING, logCreator: () => () => undefined };
  return {
    logLevel: LEVEL_OF[level],
    logCreator:
      () =>
      ({ namespace, level: entry_level, log }) => {
        const { message, timestamp: _timestamp, logger: _logger, ...extra } = log;
        const fields = { component: "kafkajs", namespace, ...extra };
        if (DEMOTED_MESSAGES.has(message)) {
          sink.debug(fields, message);
          return;
        }
        switch (entry_level) {
          case logLevel.ERROR:
            sink.error(fields, message);
            return;
          case logLevel.WARN:
            sink.warn(fields, message);
            return;
          case logLevel.INFO:
            sink.info(fields, message);
            return;
          default:
            sink.debug(fields, message);
        }
      },
  };
}
