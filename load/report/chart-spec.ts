/**
 * A report's chart as data: what to draw, on which axis, in which color. The
 * load suite writes these into the page as JSON (report-charts.ts decides
 * what goes in a chart); the page's script (web/report/charts.ts) only
 * draws them. Types alone, importing nothing, so both sides check against
 * the same shape.
 */

export type Values = Array<number | null>;

export interface LineSeries {
  readonly label: string;
  readonly values: Values;
  readonly side: 'left' | 'right';
  readonly color: string;
  readonly dash?: boolean;
  readonly fill?: boolean;
}

export interface LineChart {
  readonly kind: 'lines';
  readonly x: number[];
  readonly xLabel: string;
  readonly left: string;
  readonly right?: string;
  readonly series: readonly LineSeries[];
  /** Points only, no lines: values that do not form a series in time (rounds). */
  readonly pointsOnly?: boolean;
}

export interface HistogramChart {
  readonly kind: 'histogram';
  readonly upperMs: readonly number[];
  readonly series: ReadonlyArray<{
    readonly label: string;
    readonly counts: readonly number[];
    readonly color: string;
  }>;
  /** Each series as % of its own responses, so that sides with different counts compare. */
  readonly share: boolean;
}

export type Chart = LineChart | HistogramChart;
